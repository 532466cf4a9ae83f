"""The ``workshop`` command. Each sub-command imports what it needs only when
it runs, so that ``workshop check`` starts fast."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from workshop import __version__, settings


def _add_endpoint(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint", help="AWS endpoint URL (default: $AWS_ENDPOINT_URL, else "
                   f"{settings.DEFAULT_ENDPOINT}; 'aws' for real AWS)")


def _add_account(p: argparse.ArgumentParser) -> None:
    p.add_argument("--account", type=_account_id, help="12-digit account id, used as the access key id "
                   "(default: $AWS_ACCESS_KEY_ID, else $WORKSHOP_ACCOUNT, else 'test' = 000000000000)")


def _account_id(text: str) -> str:
    # Anything else would silently be account 000000000000 (the account rule's default).
    if not (len(text) == 12 and text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not an account id (an account id is 12 digits)")
    return text


def _add_cloud_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=settings.DEFAULT_HOST, help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=settings.DEFAULT_PORT, help="port (default %(default)s)")
    p.add_argument("--time-scale", type=_positive, default=60.0,
                   help="AWS-imposed waits are divided by this (default %(default)s; 1 is real time)")
    p.add_argument("--data-dir", help="where the cloud keeps its files and state (default $WORKSHOP_DATA_DIR, "
                   "else ~/.workshop)")
    p.add_argument("--fresh", action="store_true", help="start the cloud empty: the state kept in the data dir "
                   "is moved aside (never deleted)")
    p.add_argument("--xray-daemon-port", type=_port_or_zero, default=2000,
                   help="UDP port of the X-Ray daemon protocol, for aws-xray-sdk code (default %(default)s; "
                   "0 turns it off; always off in class mode)")


def _port_or_zero(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be a port number (0 turns the daemon off)")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workshop", description="devops-workshop: DevOps on AWS, offline.")
    parser.add_argument("--version", action="version", version=f"devops-workshop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("cloud", help="run the workshop cloud in the foreground (Ctrl-C stops it)")
    _add_cloud_options(p)
    p.add_argument("--class-keys", metavar="KEYS.json", default=os.environ.get("WORKSHOP_CLASS_KEYS"),
                   help="class mode: accept only the keys `workshop accounts` issued, signatures verified "
                   "(default $WORKSHOP_CLASS_KEYS; unset: any key, as on a laptop)")

    p = sub.add_parser("up", help="start the cloud (unless one is running) and JupyterLab on labs/",
                       description="Start the workshop: the cloud on localhost and JupyterLab on the labs "
                       "(Ctrl-C stops both).")
    _add_cloud_options(p)
    p.add_argument("--jupyter-port", type=int, default=8888, help="JupyterLab's port (default %(default)s)")
    p.add_argument("--notebook-dir", help="folder JupyterLab opens (default: the project's labs/)")
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser (none is "
                   "opened anyway on Linux without a display)")
    p.add_argument("--instructor", action="store_true", help="show nbgrader's menus (create and grade "
                   "assignments, Validate), which learners do not see")
    p.add_argument("--endpoint", help="point the labs at this AWS endpoint (e.g. LocalStack) "
                   "instead of starting the workshop cloud")

    p = sub.add_parser("check", help="run a lab's checks against your account")
    p.add_argument("lab", help="lab id, e.g. 04-iac")
    _add_endpoint(p)
    _add_account(p)
    p.add_argument("--step", help="only the checks of this step")
    p.add_argument("--json", action="store_true", help="print the results as JSON (the first hint of each "
                   "failing check, as the panel shows it first)")
    p.add_argument("--all-hints", action="store_true", help="every hint of each check, up to the answer")

    p = sub.add_parser("reset", help="delete what a lab created in your account")
    p.add_argument("lab", help="lab id, e.g. 04-iac")
    _add_endpoint(p)
    _add_account(p)

    p = sub.add_parser("traffic", help="invoke a Lambda function or alias, or request a URL or a load "
                       "balancer, and count failures per version")
    p.add_argument("function", metavar="FUNCTION[:ALIAS]|URL", nargs="?",
                   help="function name, or name:alias; or an http:// URL")
    p.add_argument("--load-balancer", metavar="NAME", help="request this load balancer's listener (its local "
                   "URL in the workshop cloud) instead of a function")
    p.add_argument("--port", type=int, help="the listener's port (default: 80, else the lowest)")
    p.add_argument("--path", default="/health", help="path requested on the load balancer (default %(default)s)")
    p.add_argument("--version-header", default="X-App-Version", help="response header naming the version "
                   "(default %(default)s)")
    p.add_argument("--version-field", default="version", help="else this field of a JSON body (default "
                   "%(default)s, the sample app's /health)")
    p.add_argument("--count", type=int, default=100, help="invocations to send (default %(default)s)")
    p.add_argument("--rate", type=_positive, help="at most this many a second (default: as fast as they return)")
    p.add_argument("--payload", help="the event, as JSON (default {})")
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print the tally as JSON")
    _add_endpoint(p)
    _add_account(p)

    p = sub.add_parser("accounts", help="give each learner of a roster an account id and an access key")
    p.add_argument("roster", metavar="ROSTER.csv", help="a CSV file with a 'learner' column")
    p.add_argument("--keys", metavar="KEYS.json", help="where the secrets go, mode 0600, for the cloud and the hub "
                   "(default: class-keys.json beside the roster)")
    p.add_argument("--out", metavar="OUT.csv", help="write the roster with account ids here (default: in place)")

    p = sub.add_parser("generate-labs", help="regenerate labs/ from solutions/ with nbgrader")
    p.add_argument("labs", nargs="*", help="lab ids (default: all)")

    p = sub.add_parser("grade", help="instructors: run every lab's checks for every learner in a roster "
                       "and write an HTML, CSV and JSON class report")
    p.add_argument("--roster", required=True, help="CSV with 'learner' and 'account_id' columns")
    p.add_argument("--labs", help="comma-separated lab ids (default: all)")
    _add_endpoint(p)
    p.add_argument("--out", default="class-report", help="folder for report.html/.csv/.json (default %(default)s)")
    p.add_argument("--workers", type=int, default=16, help="learners checked at once (default %(default)s)")
    p.add_argument("--keys", help="class mode: the keys `workshop accounts` issued (default: $WORKSHOP_CLASS_KEYS, "
                   "else class-keys.json beside the roster if it exists)")

    from workshop import nbgrader_commands

    nbgrader_commands.add_parser(sub)

    from workshop.images import command as image_command

    image_command.add_parser(sub, _add_endpoint, _add_account)

    from workshop import dora

    dora.add_parser(sub, _add_endpoint, _add_account)

    p = sub.add_parser("doctor", help="report endpoint, account, versions and what is wrong")
    _add_endpoint(p)
    _add_account(p)
    p.add_argument("--data-dir", help="the cloud's data dir (for the admin token)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    handler = globals()[f"_cmd_{args.command.replace('-', '_')}"]
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130


def _cmd_cloud(args) -> int:
    from workshop.cloud.server import serve

    if args.class_keys:
        from workshop.cloud.class_mode import ClassKeys, ClassKeysError

        try:  # refuse to start open when the class's keys cannot be read
            ClassKeys.load(args.class_keys)
        except ClassKeysError as exc:
            print(f"workshop cloud: {exc}", file=sys.stderr)
            return 2
        os.environ["WORKSHOP_CLASS_KEYS"] = str(Path(args.class_keys).resolve())
    return serve(args.host, args.port, args.time_scale, args.data_dir, fresh=args.fresh,
                 xray_daemon_port=args.xray_daemon_port)


def _cmd_up(args) -> int:
    from workshop.up import up

    return up(args)


def _cmd_check(args) -> int:
    from workshop.check_command import check_command

    return check_command(args)


def _cmd_reset(args) -> int:
    from labkit.reset import reset_command

    return reset_command(args)


def _cmd_traffic(args) -> int:
    from workshop.traffic_command import traffic_command

    return traffic_command(args)


def _cmd_accounts(args) -> int:
    from workshop.accounts_command import accounts_command

    return accounts_command(args)


def _cmd_generate_labs(args) -> int:
    from workshop.labtools import generate_labs

    return generate_labs(args.labs or None)


def _cmd_grade(args) -> int:
    from workshop.grade_command import grade_command

    return grade_command(args)


def _cmd_course(args) -> int:
    from workshop.nbgrader_commands import course_command

    return course_command(args)


def _cmd_image(args) -> int:
    from workshop.images.command import image_command

    return image_command(args)


def _cmd_dora(args) -> int:
    from workshop.dora import dora_command

    return dora_command(args)


def _cmd_doctor(args) -> int:
    from workshop.doctor import doctor

    return doctor(args)


if __name__ == "__main__":
    sys.exit(main())
