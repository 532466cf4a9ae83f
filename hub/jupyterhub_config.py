"""JupyterHub for a class on one machine: each learner logs in, gets a JupyterLab of
their own on a private copy of labs/, with their own AWS account's keys and the shared
workshop cloud's endpoint; the cloud runs as a hub-managed service.

    jupyterhub -f hub/jupyterhub_config.py                  # then open http://<host>:8000

Settings (environment variables, all optional):
  WORKSHOP_ROSTER          the class roster, after `workshop accounts ROSTER.csv`: only its
                           learners (and the instructors) may log in, each gets their own
                           issued key, and the cloud runs in class mode (signatures verified).
                           Without it, any name logs in and gets an account made from the
                           name, as on a laptop (for a try-out, not a class).
  WORKSHOP_CLASS_KEYS      the keys file (default: class-keys.json beside the roster)
  WORKSHOP_HUB_DIR         the hub's state: database, cookie secret, learners' homes, the
                           cloud's data (default: $WORKSHOP_DATA_DIR/hub, else ~/.workshop/hub)
  WORKSHOP_HUB_INSTRUCTORS comma-separated user names with the instructor role (and admin)
  WORKSHOP_HUB_INSTRUCTOR_TOKEN  an API token with the instructor role, for scripts
  WORKSHOP_HUB_CLOUD_PORT  the cloud's port (default 4566); kernels reach it at
                           http://localhost:PORT
  WORKSHOP_HUB_ENDPOINT    an AWS endpoint already running (a cloud you started yourself,
                           LocalStack): then no cloud service is started
  WORKSHOP_TIME_SCALE      the cloud's --time-scale (default 60)
  WORKSHOP_ADMIN_TOKEN     the cloud's admin token (default: generated into the cloud's data
                           dir, WORKSHOP_HUB_DIR/cloud/admin-token)

Swaps (command-line options override this file, e.g. `jupyterhub -f ... --port 80`):
  - Log-in: the dummy authenticator (any password) is for tests and trusted rooms. For a
    class password: `--JupyterHub.authenticator_class=shared-password
    --SharedPasswordAuthenticator.user_password=...` (8+ characters); for single sign-on
    install `oauthenticator` and set e.g. `c.JupyterHub.authenticator_class = "github"`
    with its client id and secret. Keep `allowed_users` from the roster.
  - Servers: run as root, the hub gives each learner a system user of their own
    (JupyterHub's local process spawner; users wsl-NAME-HASH made at first spawn, homes
    in WORKSHOP_HUB_DIR/users/NAME, 0700), so learners read neither each other's work nor
    the hub's and the cloud's secrets. Run as another user (or WORKSHOP_SANDBOX=off), every
    server runs as that one user: a try-out or a trusted room only. Past one machine,
    Zero to JupyterHub's KubeSpawner: hub/z2jh-values.yaml.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workshop_hub  # noqa: E402 (this folder is on sys.path only from here on)

from workshop import settings  # noqa: E402

c = get_config()  # noqa: F821 (JupyterHub's config loader provides it)

hub_dir = Path(os.environ.get("WORKSHOP_HUB_DIR") or settings.data_dir() / "hub").expanduser().resolve()
hub_dir.mkdir(parents=True, exist_ok=True)
the_class = workshop_hub.Class.from_environment()
instructors = [n.strip() for n in os.environ.get("WORKSHOP_HUB_INSTRUCTORS", "").split(",") if n.strip()]

# -- the hub's own state, in one folder ------------------------------------------
c.JupyterHub.bind_url = "http://:8000"
c.JupyterHub.db_url = f"sqlite:///{hub_dir / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(hub_dir / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(hub_dir / "jupyterhub-proxy.pid")

# -- who logs in -------------------------------------------------------------------
c.JupyterHub.authenticator_class = "dummy"
if the_class.roster is not None:
    # Read at start: restart the hub after adding learners to the roster.
    c.Authenticator.allowed_users = set(the_class.learners()) | set(instructors)
    c.Authenticator.allow_all = False
else:
    c.Authenticator.allow_all = True
c.Authenticator.admin_users = set(instructors)

# -- the cloud, as a hub-managed service -------------------------------------------
endpoint = os.environ.get("WORKSHOP_HUB_ENDPOINT")
services = []
if not endpoint:
    port = int(os.environ.get("WORKSHOP_HUB_CLOUD_PORT") or settings.DEFAULT_PORT)
    services.append(the_class.cloud_service(
        "127.0.0.1", port, hub_dir / "cloud", float(os.environ.get("WORKSHOP_TIME_SCALE") or 60),
        os.environ.get("WORKSHOP_ADMIN_TOKEN")))
    # localhost, not 127.0.0.1: the CDK's default synthesizer needs it.
    endpoint = f"http://localhost:{port}"
instructor_token = os.environ.get("WORKSHOP_HUB_INSTRUCTOR_TOKEN")
if instructor_token:
    services.append({"name": workshop_hub.INSTRUCTOR_SERVICE, "api_token": instructor_token, "display": False})
c.JupyterHub.services = services
c.JupyterHub.load_roles = workshop_hub.instructor_roles(
    instructors, [workshop_hub.INSTRUCTOR_SERVICE] if instructor_token else [])

# -- each learner's server -----------------------------------------------------------
if workshop_hub.isolating():
    # The hub runs as root (a class server): each learner's server, kernels and terminals
    # run as a system user of their own (wsl-NAME-..., made at first spawn), at home in
    # users/NAME (0700); the hub's folder is passable, not listable.
    workshop_hub.close_hub_dir(hub_dir)
    c.JupyterHub.spawner_class = workshop_hub.learner_spawner_class()
    c.LearnerSpawner.home_dir_template = str(hub_dir / "users" / "{username}")
    c.Spawner.args = workshop_hub.singleuser_args(as_root=False)
else:
    # Not root (or WORKSHOP_SANDBOX=off): every server runs as the hub's own user.
    c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
    c.SimpleLocalProcessSpawner.home_dir_template = str(hub_dir / "users" / "{username}")
    # As root with WORKSHOP_SANDBOX=off, servers need --allow-root.
    c.Spawner.args = workshop_hub.singleuser_args(as_root=os.geteuid() == 0)
c.Spawner.cmd = workshop_hub.singleuser_command()
c.Spawner.default_url = "/lab"
c.Spawner.environment = the_class.spawner_environment(endpoint)


def _prepare_labs(spawner):
    """Before each spawn: the learner's own copy of labs/, which their JupyterLab opens."""
    # A name without a key (an instructor not on the roster) gets no server, with the reason.
    the_class.learner_environment(spawner.user.name, endpoint)
    home = Path(spawner.home_dir)
    owner = workshop_hub.prepare_learner_user(spawner.user.name, home) if workshop_hub.isolating() else None
    spawner.notebook_dir = str(workshop_hub.copy_labs(settings.project_root() / "labs", home, owner))
    if spawner.user.name in instructors:  # nbgrader's menus, hidden from learners
        spawner.args = workshop_hub.singleuser_args(as_root=bool(os.geteuid() == 0 and not workshop_hub.isolating()),
                                                    instructor=True)


c.Spawner.pre_spawn_hook = _prepare_labs
