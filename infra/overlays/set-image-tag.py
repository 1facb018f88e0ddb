#!/usr/bin/env python3
"""Pin every function image of one environment's overlay to a tag (GitOps deploy).

Rewrites the block between `# BEGIN images` and `# END images` in
infra/overlays/<env>/kustomization.yaml with one kustomize `images:` entry per
image that the base (infra/knative/**/*.yaml) uses, so a function added to the
base is pinned too. The pipeline (Jenkinsfile, "Deploy (GitOps)") runs it,
commits the change and Argo CD syncs it; rolling back is the same with an
older tag (or `git revert` of the deploy commit).

Usage:
  python3 infra/overlays/set-image-tag.py <dev|staging|prod> <tag> [--registry REG]
  python3 infra/overlays/set-image-tag.py <env> --show     print the pinned tags

--registry REG (e.g. registry.example.com/ticket-gateway) sets `newName` so the
images come from REG/<name> instead of the base's ghcr.io/ticket-gateway/<name>.
Python 3 stdlib only.
"""

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE = HERE.parent / "knative"
ENVS = ("dev", "staging", "prod")
BEGIN = "# BEGIN images (written by set-image-tag.py)"
END = "# END images"
IMAGE_LINE = re.compile(r"^\s*(?:-\s*)?image:\s*[\"']?([^\"'\s:@]+(?::\d+)?/[^\"'\s:@]+)(?::[^\"'\s@]+)?(?:@\S+)?[\"']?\s*$")
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def base_images():
    names = set()
    for path in sorted(BASE.rglob("*.y*ml")):
        for line in path.read_text(encoding="utf-8").splitlines():
            m = IMAGE_LINE.match(line)
            if m:
                names.add(m.group(1))
    if not names:
        sys.exit("set-image-tag: no image found under %s" % BASE)
    return sorted(names)


def render(names, tag, registry):
    lines = [BEGIN, "images:"]
    for name in names:
        lines.append("  - name: %s" % name)
        if registry:
            lines.append("    newName: %s/%s" % (registry.rstrip("/"), name.rsplit("/", 1)[1]))
        lines.append("    newTag: %s" % (tag if not tag.isdigit() else '"%s"' % tag))
    lines.append(END)
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("env", choices=ENVS)
    parser.add_argument("tag", nargs="?")
    parser.add_argument("--registry", default="")
    parser.add_argument("--show", action="store_true")
    args = parser.parse_args()

    path = HERE / args.env / "kustomization.yaml"
    text = path.read_text(encoding="utf-8")
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        sys.exit("set-image-tag: %s has no '%s' ... '%s' block" % (path, BEGIN, END))
    if args.show:
        print(text[start:end + len(END)])
        return
    if not args.tag or not TAG.match(args.tag):
        sys.exit("set-image-tag: a valid image tag is required (got %r)" % args.tag)
    block = render(base_images(), args.tag, args.registry)
    new = text[:start] + block + text[end + len(END):]
    if new != text:
        path.write_text(new, encoding="utf-8")
        print("set-image-tag: %s -> %s" % (path.relative_to(HERE.parent.parent), args.tag))
    else:
        print("set-image-tag: %s already at %s" % (path.relative_to(HERE.parent.parent), args.tag))


if __name__ == "__main__":
    main()
