"""The workshop's arrangement on JupyterHub, shared by ``jupyterhub_config.py`` (one
machine) and ``z2jh-values.yaml`` (Kubernetes): who may log in and which account and
keys each learner gets (from the class roster), the environment of their server, the
cloud as a hub-managed service, the instructor role, each learner's copy of ``labs/``.

Not a package module: the config files put this folder on ``sys.path`` (as Zero to
JupyterHub does for its own config folder) and import it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
from pathlib import Path

from workshop import settings
from workshop.up import INSTRUCTOR_SETTINGS_DIR, LAB_SETTINGS_DIR, NBGRADER_SERVER_EXTENSIONS, learner_env

CLOUD_SERVICE = "workshop-cloud"
INSTRUCTOR_SERVICE = "workshop-instructor"
INSTRUCTOR_ROLE = "workshop-instructor"
# What an instructor (a user, or a script with the instructor service's token) may do:
# list learners, start and stop their servers, and open them (to help a stuck learner).
# Grading needs none of it: it reads the learners' accounts in the cloud with their keys.
INSTRUCTOR_SCOPES = ["list:users", "read:users", "admin:servers", "access:servers"]

# All a learner's server gets from the hub besides JupyterHub's own variables: nothing
# else of the hub's environment (its proxy token, the cloud's admin token) reaches it.
LEARNER_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ACCESS_KEY_ID",
                     "AWS_SECRET_ACCESS_KEY", "WORKSHOP_ACCOUNT")
# Where servers run on the hub's machine, from the hub's Python environment; a server in
# its own image (Kubernetes, Docker) has its own.
LOCAL_VARIABLES = ("WORKSHOP_HOME", "PATH")


class Class:
    """The class: the roster (``workshop accounts ROSTER.csv`` gave it account ids) and
    the keys file with each learner's secret. Without a roster (a try-out hub, a
    laptop-mode cloud), any name logs in and its account id, made from the name as
    ``workshop accounts`` makes them, is its access key."""

    def __init__(self, roster: str | os.PathLike | None = None, keys: str | os.PathLike | None = None):
        from workshop.accounts_command import KEYS_FILE

        self.roster = Path(roster).expanduser().resolve() if roster else None
        if keys:
            self.keys = Path(keys).expanduser().resolve()
        else:
            self.keys = self.roster.with_name(KEYS_FILE) if self.roster else None

    @classmethod
    def from_environment(cls) -> Class:
        return cls(os.environ.get("WORKSHOP_ROSTER") or None, os.environ.get("WORKSHOP_CLASS_KEYS") or None)

    @property
    def class_mode(self) -> bool:
        return self.keys is not None

    def learners(self) -> list[str]:
        """The roster's learners (the names that may log in)."""
        from workshop.accounts_command import LEARNER, read_roster

        if self.roster is None:
            return []
        _, rows = read_roster(self.roster)
        return [row[LEARNER] for row in rows]

    def learner_environment(self, name: str, endpoint: str, local: bool = True) -> dict[str, str]:
        """The environment of one learner's server, and so of every kernel and terminal in it:
        ``workshop up``'s learner environment, with this learner's own key."""
        env = learner_env(endpoint, settings.project_root())
        if self.class_mode:
            from workshop.cloud.class_mode import learner_env as class_learner_env

            # Only this learner's issued key and secret; a name without one gets no server.
            env.update(class_learner_env(self.keys, name, endpoint, settings.DEFAULT_REGION))
        else:
            from workshop.accounts_command import derive_account_id

            account = derive_account_id("", name, set())
            env.update(settings.learner_aws_env(endpoint, account, region=settings.DEFAULT_REGION))
        wanted = LEARNER_VARIABLES + (LOCAL_VARIABLES if local else ())
        return {variable: env[variable] for variable in wanted if variable in env}

    def spawner_environment(self, endpoint: str, local: bool = True) -> dict:
        """``Spawner.environment``: one callable per variable, answering for the spawner's
        user (JupyterHub calls them at each spawn, so a re-run of ``workshop accounts``
        during the class needs no restart). ``local``: the servers run on this machine."""

        def variable(name):
            return lambda spawner: self.learner_environment(spawner.user.name, endpoint, local)[name]

        return {name: variable(name) for name in LEARNER_VARIABLES + (LOCAL_VARIABLES if local else ())}

    def cloud_service(self, host: str, port: int, data_dir: Path, time_scale: float = 60.0,
                      admin_token: str | None = None) -> dict:
        """The workshop cloud as a hub-managed service: the hub starts it, restarts it if it
        exits, and stops it with the hub; in class mode with the class's keys. It is not
        routed through the hub's proxy: kernels reach it directly (SigV4 signs the host and
        path, which a proxy's prefix would change)."""
        command = [sys.executable, "-m", "workshop", "cloud", "--host", host, "--port", str(port),
                   "--data-dir", str(data_dir), "--time-scale", f"{time_scale:g}"]
        if self.class_mode:
            command += ["--class-keys", str(self.keys)]
        environment = {"WORKSHOP_HOME": str(settings.project_root()), "PYTHONUNBUFFERED": "1"}
        if admin_token:
            environment["WORKSHOP_ADMIN_TOKEN"] = admin_token
        return {"name": CLOUD_SERVICE, "command": command, "environment": environment, "display": False}


def instructor_roles(users: list[str], services: list[str]) -> list[dict]:
    return [{"name": INSTRUCTOR_ROLE, "description": "Run the workshop: see, start and open learners' servers",
             "scopes": INSTRUCTOR_SCOPES, "users": users, "services": services}]


def singleuser_args(as_root: bool = False, settings_dir: str | os.PathLike | None = None,
                    instructor: bool = False) -> list[str]:
    """Arguments of ``jupyterhub-singleuser``: the workshop's JupyterLab settings (news
    pop-up off; for learners nbgrader's menus and Validate off, and its server extensions),
    as ``workshop up`` (``--instructor``) has them. ``settings_dir``: where the server's
    machine or image has the project's ``jupyter/lab/settings`` (or instructor-settings)."""
    if settings_dir is None:
        settings_dir = INSTRUCTOR_SETTINGS_DIR if instructor else LAB_SETTINGS_DIR
    args = [f"--LabApp.app_settings_dir={settings_dir}"]
    if not instructor:
        for extension in NBGRADER_SERVER_EXTENSIONS:
            args += ["--ServerApp.jpserver_extensions", f"{extension}=False"]
    if as_root:
        args.append("--allow-root")  # jupyterhub-singleuser refuses root without it
    return args


def singleuser_command() -> list[str]:
    """``jupyterhub-singleuser`` of this Python environment, by absolute path (the hub
    may run from an environment that is not activated)."""
    here = Path(sys.executable).parent / "jupyterhub-singleuser"
    return [str(here) if here.exists() else (shutil.which("jupyterhub-singleuser") or "jupyterhub-singleuser")]


LEARNER_USER_PREFIX = "wsl-"


def isolating() -> bool:
    """Each learner's server runs as a system user of their own: when the hub runs as
    root (a class server), unless ``WORKSHOP_SANDBOX=off`` (as for the cloud's sandbox)."""
    from workshop.cloud import sandbox

    return sandbox.enabled()


def system_user_name(learner: str) -> str:
    """The system user of a hub user: ``wsl-`` + what of the name Linux allows + a digest
    of the whole name (two names that read alike stay two users); at most 32 characters."""
    safe = re.sub(r"[^a-z0-9_-]", "", learner.lower())[:16]
    digest = hashlib.sha256(learner.encode("utf-8")).hexdigest()[:8]
    return f"{LEARNER_USER_PREFIX}{safe}-{digest}" if safe else f"{LEARNER_USER_PREFIX}{digest}"


def learner_spawner_class():
    """JupyterHub's local process spawner, with each learner's server (and so their
    kernels and terminals) running as their own system user, made on first spawn, whose
    home is their folder in the hub's dir: a learner reads neither another learner's work
    nor the hub's and the cloud's secrets. (The hub's user names are the roster's names,
    which need not be valid system user names: ``system_user_name`` maps them.)"""
    import pwd

    from jupyterhub.spawner import LocalProcessSpawner
    from traitlets import Unicode

    class LearnerSpawner(LocalProcessSpawner):
        home_dir_template = Unicode("", config=True, help="The learner's home; {username} is the hub name")

        @property
        def system_user(self) -> str:
            return system_user_name(self.user.name)

        @property
        def home_dir(self) -> str:
            return self.home_dir_template.format(username=self.user.name)

        def make_preexec_fn(self, name):
            # Not JupyterHub's set_user_setuid: the home is the hub's folder for this learner
            # (the system user may have been made by an earlier hub with another folder).
            entry, home = pwd.getpwnam(self.system_user), self.home_dir

            def become_learner():
                os.setgid(entry.pw_gid)
                os.setgroups([entry.pw_gid])
                os.setuid(entry.pw_uid)
                os.chdir(home)

            return become_learner

        def user_env(self, env):
            entry = pwd.getpwnam(self.system_user)
            env.update(USER=entry.pw_name, LOGNAME=entry.pw_name, HOME=self.home_dir, SHELL=entry.pw_shell)
            return env

    return LearnerSpawner


def prepare_learner_user(learner: str, home: Path) -> str:
    """The learner's system user and private home (0700), made if missing; its name."""
    from workshop.cloud import sandbox

    sandbox.make_python_reachable()
    name = system_user_name(learner)
    shell = "/bin/bash" if Path("/bin/bash").exists() else "/bin/sh"
    who = sandbox.ensure_user(name, f"devops-workshop learner {learner}"[:60], home=str(home), shell=shell)
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, who.uid, who.gid)
    os.chmod(home, 0o700)
    return name


def close_hub_dir(hub_dir: Path) -> None:
    """When learners run as their own users: the hub's folder can be passed through (to
    each learner's home below ``users/``) but not listed, and its database is the hub's."""
    for folder in (hub_dir, hub_dir / "users"):
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o711)
    database = hub_dir / "jupyterhub.sqlite"
    database.touch(mode=0o600)  # sqlite takes an empty file as a new database
    os.chmod(database, 0o600)


def copy_labs(labs: Path, home: Path, owner: str | None = None) -> Path:
    """The learner's own ``labs/`` in their home: lab folders they do not have yet are
    copied in (labs released later arrive at the next spawn); folders they have are
    theirs and are never overwritten."""
    work = home / "labs"
    work.mkdir(parents=True, exist_ok=True)
    for lab in sorted(labs.iterdir()):
        if lab.is_dir() and not lab.name.startswith(".") and not (work / lab.name).exists():
            shutil.copytree(lab, work / lab.name,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    if owner is not None:  # real system users (LocalProcessSpawner as root): hand it over
        import pwd

        entry = pwd.getpwnam(owner)
        for path in [home, work, *work.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
    return work
