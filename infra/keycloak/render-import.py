#!/usr/bin/env python3
"""Render keycloak-realm-import.yaml from ticketgw-realm.json (Python stdlib only).

ticketgw-realm.json is the single source of the `ticketgw` realm. This script
wraps it, unchanged, in a Keycloak operator KeycloakRealmImport resource
(k8s.keycloak.org/v2alpha1) so the file `kc.sh import` reads and the resource
`kubectl apply` creates cannot drift apart. Edit the JSON, then re-run this.

Usage (from anywhere):
  python3 infra/keycloak/render-import.py            rewrite keycloak-realm-import.yaml
  python3 infra/keycloak/render-import.py --check    exit 1 if the YAML is stale (CI)
  python3 infra/keycloak/render-import.py --without-test-users --output - [--format json|yaml]
        print a production variant without the test users (users whose email
        ends in @ticketgw.test); never written over the committed files

Every string is written as a double-quoted scalar (JSON string syntax, ASCII
only, which YAML accepts unchanged), so no value can be re-typed by a YAML
parser ("true", "0900", "yes", "${...}" all stay strings). If PyYAML happens to
be importable the output is parsed back and compared with the JSON; it is not
required.
"""

import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REALM_JSON = HERE / "ticketgw-realm.json"
IMPORT_YAML = HERE / "keycloak-realm-import.yaml"
TEST_EMAIL_DOMAIN = "@ticketgw.test"

HEADER = """\
# GENERATED from ticketgw-realm.json by render-import.py - do not edit by hand.
#   regenerate: python3 infra/keycloak/render-import.py
#   CI check:   python3 infra/keycloak/render-import.py --check
#
# Keycloak operator KeycloakRealmImport for the `ticketgw` realm. Apply it in
# the namespace of the Keycloak CR named `keycloak`. The operator imports a
# realm only if it does not exist yet; later edits are not applied to an
# existing realm (see README.md in this folder).
#
# WARNING: includes TEST users with TEST-ONLY passwords (change-me-*). For
# dev/staging only. For production render a variant without them:
#   python3 infra/keycloak/render-import.py --without-test-users --output -
"""

PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*")
# Words a YAML 1.1 or 1.2 parser would read as something other than a string.
RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def _key(key):
    if not isinstance(key, str):
        raise TypeError("mapping key %r is not a string" % (key,))
    if PLAIN_KEY.fullmatch(key) and key.lower() not in RESERVED:
        return key
    return json.dumps(key)


def _inline(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=True)
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, list) and not value:
        return "[]"
    raise TypeError("cannot render %r inline" % (value,))


def _block(value, indent):
    pad = " " * indent
    lines = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append("%s%s:" % (pad, _key(key)))
                lines.extend(_block(item, indent + 2))
            else:
                lines.append("%s%s: %s" % (pad, _key(key), _inline(item)))
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)) and item:
                nested = _block(item, indent + 2)
                lines.append("%s- %s" % (pad, nested[0][indent + 2:]))
                lines.extend(nested[1:])
            else:
                lines.append("%s- %s" % (pad, _inline(item)))
    else:
        raise TypeError("_block needs a mapping or a list")
    return lines


def to_yaml(document):
    return "\n".join(_block(document, 0)) + "\n"


def load_realm():
    with REALM_JSON.open(encoding="utf-8") as handle:
        realm = json.load(handle)
    if not isinstance(realm, dict) or realm.get("realm") != "ticketgw":
        raise SystemExit("render-import: %s is not the ticketgw realm" % REALM_JSON)
    return realm


def without_test_users(realm):
    realm = dict(realm)
    users = [u for u in realm.get("users", [])
             if not str(u.get("email", "")).endswith(TEST_EMAIL_DOMAIN)]
    if users:
        realm["users"] = users
    else:
        realm.pop("users", None)
    return realm


def realm_import(realm):
    return {
        "apiVersion": "k8s.keycloak.org/v2alpha1",
        "kind": "KeycloakRealmImport",
        "metadata": {
            "name": "ticketgw",
            "labels": {
                "app.kubernetes.io/name": "ticketgw",
                "app.kubernetes.io/component": "identity",
                "app.kubernetes.io/part-of": "ticket-gateway",
            },
        },
        "spec": {
            "keycloakCRName": "keycloak",
            "realm": realm,
        },
    }


def _verify_round_trip(text, document):
    try:
        import yaml  # optional; not needed to render
    except ImportError:
        return
    parsed = yaml.safe_load(text)
    if parsed != document:
        raise SystemExit("render-import: BUG: the rendered YAML does not parse back to the realm JSON")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if %s is not up to date" % IMPORT_YAML.name)
    parser.add_argument("--without-test-users", action="store_true",
                        help="drop users whose email ends in %s (production variant)" % TEST_EMAIL_DOMAIN)
    parser.add_argument("--output", help="write here instead ('-' = stdout)")
    parser.add_argument("--format", choices=("yaml", "json"), default="yaml",
                        help="yaml: KeycloakRealmImport (default); json: the bare realm, for kc.sh import")
    args = parser.parse_args()

    realm = load_realm()
    if args.without_test_users:
        if args.check or args.output is None:
            parser.error("--without-test-users needs --output (the committed files keep the test users)")
        realm = without_test_users(realm)

    if args.format == "json":
        if args.check or args.output is None:
            parser.error("--format json needs --output (ticketgw-realm.json is the source, not an output)")
        text = json.dumps(realm, indent=2, ensure_ascii=False) + "\n"
    else:
        document = realm_import(realm)
        body = to_yaml(document)
        _verify_round_trip(body, document)
        text = HEADER + body

    if args.check:
        current = IMPORT_YAML.read_text(encoding="utf-8") if IMPORT_YAML.exists() else None
        if current != text:
            print("render-import: %s is stale; run: python3 %s" % (IMPORT_YAML, Path(__file__)), file=sys.stderr)
            return 1
        print("render-import: %s is up to date" % IMPORT_YAML.name)
        return 0

    if args.output == "-":
        sys.stdout.write(text)
    else:
        target = Path(args.output) if args.output else IMPORT_YAML
        if target.resolve() == REALM_JSON or (
                target.resolve() == IMPORT_YAML and (args.without_test_users or args.format != "yaml")):
            parser.error("refusing to overwrite %s with a variant" % target)
        target.write_text(text, encoding="utf-8")
        print("render-import: wrote %s" % target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
