"""`sora-tui keys status|set|delete`: API keys in the environment, the OS keyring or a key file."""

from __future__ import annotations

import argparse
import sys

from .advice import cli_advice
from .common import EXIT_INPUT, EXIT_OK, CliError, _err


def cmd_keys(args: argparse.Namespace) -> int:
    from ..core import keys

    if args.action == "status":
        for name in keys.NAMES:
            print(keys.get_key(name).describe(how=f"`sora-tui keys set {name}`"))
        if not keys.keyring_available():
            print(
                "note: no OS keyring is available here; keys come from the environment variables or from "
                f"key files in {keys.key_dir()} (`sora-tui keys set NAME --file`)"
            )
        return EXIT_OK
    if not args.name:
        raise CliError(f"keys {args.action}: name the key (fal or openai)")
    if args.action == "set":
        import getpass

        if not args.file and not keys.keyring_available():
            refused = keys.KeyringUnavailable(args.name)
            raise CliError(str(refused) + cli_advice(refused))
        if args.file:
            _err("warning: " + keys.file_warning(args.name))
            if not args.yes:
                if not sys.stdin.isatty():
                    raise CliError("keys set --file: add --yes to store the key unencrypted (stdin is not a terminal)")
                if input("Store it there? [y/N] ").strip().lower() not in ("y", "yes"):
                    print("not stored")
                    return EXIT_INPUT
        # the key comes from a hidden prompt or stdin, never from the command line (the process list)
        if sys.stdin.isatty():
            value = getpass.getpass(f"{args.name} key (input hidden): ")
        else:
            value = sys.stdin.readline()
        try:
            path = keys.set_key(args.name, value, to_file=args.file)
        except keys.KeyringUnavailable as exc:
            raise CliError(str(exc) + cli_advice(exc)) from None
        print(f"{args.name} key stored in {path} (mode 0600)" if path else f"{args.name} key stored in the OS keyring")
        info = keys.get_key(args.name)
        if info.source == "env":
            print(f"note: ${info.env_var} is set and takes precedence")
        elif args.file and info.source == "keyring":
            print("note: the OS keyring also holds this key and takes precedence over the file")
        return EXIT_OK
    try:
        removed = keys.remove_key(args.name)
    except keys.KeyringUnavailable as exc:
        raise CliError(str(exc)) from None
    places = {"keyring": "the OS keyring", "file": f"the key file {keys.key_file(args.name)}"}
    if removed:
        print(f"{args.name} key deleted from " + " and ".join(places[p] for p in removed))
    else:
        print(f"{args.name} key was not stored in the OS keyring or a key file")
    info = keys.get_key(args.name)
    if info.source == "env":
        print(f"note: ${info.env_var} is still set in this shell's environment and stays in effect")
    return EXIT_OK
