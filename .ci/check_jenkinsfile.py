#!/usr/bin/env python3
"""Static checks of the declarative Jenkins pipeline (no Jenkins is reachable in CI).

Run through .ci/check-jenkinsfile. Standard library only (Python 3.8+).

Checks, each printed as one or more PASS/FAIL lines tagged with its group:
  [lexical]    braces, brackets and parentheses balance outside Groovy strings
               ('...', "...", '''...''', \"\"\"...\"\"\", slashy strings after =~ / ==~)
               and comments (// and /* */); the code inside GString ${...}
               interpolations is checked too; no unterminated string or comment.
  [structure]  one top-level `pipeline { }` with `agent`, `stages` and `post`; post
               has `failure` and `success` (or `always` / `fixed`) blocks that notify;
               every stage('...') holds steps, stages, parallel or matrix (steps not
               empty); stage names are unique across the pipeline.
  [stages]     the required stages exist (names matched case-insensitively by
               keywords, and each must run the matching command), in a sane order,
               and the post blocks send Telegram notifications on success and failure.
  [scripts]    every .ci/<script> that .ci/run calls is called from a sh step of the
               Jenkinsfile (comments do not count), the tests run through .ci/run or
               `cargo test`, and every .ci/... and infra/... path the Jenkinsfile names
               exists (templated parts such as $ENV, ${x} or <env> are globbed).
  [secrets]    no literal secret (password/token/secret assignments, Telegram bot
               tokens, provider token formats, private keys, user:password@ URLs);
               every secret-looking variable a step uses is bound by withCredentials
               or environment `X = credentials('...')`.

Limitation: slashy strings (/.../) are recognised only after =~, ==~ and ~; a
dollar-slashy string ($/.../$) is not recognised (neither is used in the pipeline).
"""
import argparse
import bisect
import contextlib
import glob
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile

OPENERS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {v: k for k, v in OPENERS.items()}


# ---------------------------------------------------------------------------------
# Lexer
# ---------------------------------------------------------------------------------
class Tok:
    __slots__ = ("kind", "val", "pos", "end")

    def __init__(self, kind, val, pos, end):
        self.kind, self.val, self.pos, self.end = kind, val, pos, end

    def is_op(self, v):
        return self.kind == "op" and self.val == v

    def is_id(self, v=None):
        return self.kind == "id" and (v is None or self.val == v)

    def __repr__(self):
        return "Tok(%s,%r,%d)" % (self.kind, self.val, self.pos)


class Lexer:
    """Groovy tokenizer: identifiers, numbers, strings and punctuation of the code
    (string contents and comments are not code). Records lexical errors."""

    def __init__(self, text):
        self.text = text
        self.n = len(text)
        self.errors = []
        self.comments = []  # (pos, end)
        self.nl = [i for i, c in enumerate(text) if c == "\n"]
        self.max_depth = 0
        self.tokens, _ = self.lex_code(0, None)

    def line(self, pos):
        return bisect.bisect_left(self.nl, pos) + 1

    def err(self, pos, msg):
        self.errors.append((self.line(pos), msg))

    def lex_code(self, i, interp_pos):
        """Lexes code from i. With interp_pos (the position of a GString `${`), stops
        after the `}` that closes the interpolation. Returns (tokens, next index)."""
        t, n = self.text, self.n
        stack = []  # (opener, pos)
        toks = []
        while i < n:
            c = t[i]
            if c in " \t\r\n":
                i += 1
            elif t.startswith("//", i):
                j = t.find("\n", i)
                j = n if j < 0 else j
                self.comments.append((i, j))
                i = j
            elif t.startswith("/*", i):
                j = t.find("*/", i + 2)
                if j < 0:
                    self.err(i, "unterminated /* comment")
                    self.comments.append((i, n))
                    i = n
                else:
                    self.comments.append((i, j + 2))
                    i = j + 2
            elif t.startswith("'''", i):
                i = self.lex_string(i, "'''", False, toks)
            elif t.startswith('"""', i):
                i = self.lex_string(i, '"""', True, toks)
            elif c == "'":
                i = self.lex_string(i, "'", False, toks)
            elif c == '"':
                i = self.lex_string(i, '"', True, toks)
            elif c == "/" and toks and toks[-1].kind == "op" and toks[-1].val in ("=~", "==~", "~"):
                i = self.lex_string(i, "/", True, toks)
            elif c in OPENERS:
                stack.append((c, i))
                self.max_depth = max(self.max_depth, len(stack))
                toks.append(Tok("op", c, i, i + 1))
                i += 1
            elif c in CLOSERS:
                if c == "}" and interp_pos is not None and not stack:
                    return toks, i + 1
                if not stack:
                    self.err(i, "unmatched '%s'" % c)
                elif stack[-1][0] != CLOSERS[c]:
                    op, opos = stack[-1]
                    self.err(i, "'%s' does not close '%s' opened on line %d" % (c, op, self.line(opos)))
                    # Resynchronise: drop to the opener this closer matches, if any.
                    for k in range(len(stack) - 1, -1, -1):
                        if stack[k][0] == CLOSERS[c]:
                            del stack[k:]
                            break
                else:
                    stack.pop()
                toks.append(Tok("op", c, i, i + 1))
                i += 1
            elif c.isalpha() or c == "_" or c == "$" and not t.startswith("${", i):
                j = i + 1
                while j < n and (t[j].isalnum() or t[j] in "_$"):
                    j += 1
                toks.append(Tok("id", t[i:j], i, j))
                i = j
            elif c.isdigit():
                j = i + 1
                while j < n and (t[j].isalnum() or t[j] in "._"):
                    j += 1
                toks.append(Tok("num", t[i:j], i, j))
                i = j
            else:
                for op in ("==~", "=~", "?:", "?.", "->", "==", "!=", "<=", ">=", "&&", "||", "<<"):
                    if t.startswith(op, i):
                        break
                else:
                    op = c
                toks.append(Tok("op", op, i, i + len(op)))
                i += len(op)
        if interp_pos is not None:
            self.err(interp_pos, "unterminated ${ interpolation")
        for op, opos in stack:
            self.err(opos, "'%s' is never closed" % op)
        return toks, i

    def lex_string(self, i, delim, interp, toks):
        """Lexes a string literal starting at i (its opening delimiter); appends one
        'str' token whose value is the raw content (interpolations kept as ${...})."""
        t, n = self.text, self.n
        start = i
        i += len(delim)
        parts = []
        seg = i
        multiline = len(delim) == 3 or delim == "/"
        while True:
            if i >= n:
                self.err(start, "unterminated string %s...%s" % (delim, delim))
                parts.append(t[seg:n])
                break
            c = t[i]
            if t.startswith(delim, i):
                parts.append(t[seg:i])
                i += len(delim)
                break
            if c == "\\":
                i += 2
            elif c == "\n" and not multiline:
                self.err(start, "unterminated string %s (end of line reached)" % delim)
                parts.append(t[seg:i])
                break
            elif interp and t.startswith("${", i):
                _, j = self.lex_code(i + 2, i)
                i = j
            else:
                i += 1
        toks.append(Tok("str", "".join(parts), start, i))
        return i


# ---------------------------------------------------------------------------------
# Block structure on top of the tokens
# ---------------------------------------------------------------------------------
class Entry:
    """One `name (args)? {body}?` item directly inside a block."""
    __slots__ = ("name", "idx", "args", "body")

    def __init__(self, name, idx, args, body):
        self.name, self.idx, self.args, self.body = name, idx, args, body


class Model:
    def __init__(self, text):
        self.text = text
        self.lx = Lexer(text)
        self.toks = self.lx.tokens
        self.match = {}
        stack = []
        for k, tok in enumerate(self.toks):
            if tok.kind != "op":
                continue
            if tok.val in OPENERS:
                stack.append(k)
            elif tok.val in CLOSERS:
                for d in range(len(stack) - 1, -1, -1):
                    if self.toks[stack[d]].val == CLOSERS[tok.val]:
                        self.match[stack[d]] = k
                        del stack[d:]
                        break
        for k in stack:  # unclosed: extends to the end
            self.match[k] = len(self.toks)

    def line(self, pos):
        return self.lx.line(pos)

    def entries(self, lo, hi):
        """Entries directly inside tokens (lo, hi) exclusive."""
        out = []
        k = lo + 1
        toks = self.toks
        while k < hi:
            tok = toks[k]
            if tok.kind == "op" and tok.val in OPENERS:
                k = self.match.get(k, hi) + 1
                continue
            if tok.kind != "id":
                k += 1
                continue
            args = body = None
            j = k + 1
            if j < hi and toks[j].is_op("("):
                args = (j, self.match.get(j, hi))
                j = args[1] + 1
            if j < hi and toks[j].is_op("{"):
                body = (j, self.match.get(j, hi))
                j = body[1] + 1
            out.append(Entry(tok.val, k, args, body))
            k = j
        return out

    def strings(self, rng):
        lo, hi = rng
        return [t for t in self.toks[lo + 1:hi] if t.kind == "str"]

    def content(self, rng):
        lo, hi = rng
        return " ".join(t.val for t in self.toks[lo + 1:hi] if t.kind in ("str", "id"))

    def top_entries(self):
        return self.entries(-1, len(self.toks))

    def functions(self):
        """Top-level method definitions: `Type name(...) {` or `def name(...) {`."""
        funcs = {}
        toks = self.toks
        for e in self.top_entries():
            if e.args and e.body and e.idx > 0 and toks[e.idx - 1].kind == "id":
                funcs[e.name] = e.body
        return funcs


# ---------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------
REQUIRED = [
    # key, label, name patterns (all must match), name exclusion, content patterns (all)
    ("lint", "format and lint", [r"format|fmt", r"lint|clippy"], None, [r"cargo\s+fmt", r"clippy"]),
    ("tests", "tests", [r"\btests?\b"], r"smoke|\bweb\b", [r"\.ci/run\b|cargo\s+(test|nextest)"]),
    ("build", "build images", [r"build", r"image"], r"\bweb\b", [r"docker\s+(buildx\s+)?build|kaniko|buildah"]),
    ("audit", "dependency vulnerability scan (cargo-audit)", [r"audit|dependenc|vulnerab"], None,
     [r"\.ci/audit\b|cargo[\s-]audit"]),
    ("image-scan", "image scan (Trivy)", [r"image", r"scan|trivy"], None, [r"trivy", r"\bimage\b"]),
    ("manifest-scan", "manifest scan", [r"manifest"], None,
     [r"validate-manifests|trivy\b.*\bconfig|kubeconform|checkov"]),
    ("push", "push images", [r"push"], None, [r"docker\s+push|crane\s+push|skopeo\s+copy"]),
    ("deploy", "deploy via GitOps / Argo CD", [r"deploy|gitops"], None,
     [r"\bgit\b[\s\S]{0,300}?\bpush\b|argocd\s+app\s+(sync|set)"]),
    ("smoke", "smoke test", [r"smoke"], None, [r"curl|wget|http"]),
    # The web app (web/): Lint -> Test -> Build (image), its image scanned and pushed with the others.
    ("web-lint", "web app lint", [r"\bweb\b", r"lint"], None, [r"npm\s+(run\s+)?lint", r"typecheck|\btsc\b"]),
    ("web-test", "web app tests", [r"\bweb\b", r"\btests?\b"], None, [r"\.ci/web-tests\b"]),
    ("web-build", "web app image", [r"\bweb\b", r"build|image"], None,
     [r"docker\s+(buildx\s+)?build", r"web/Dockerfile", r"IMAGES_FILE"]),
]
# (earlier, later): the later stage must come after the earlier one.
ORDER = [("lint", "push"), ("tests", "push"), ("audit", "push"), ("manifest-scan", "deploy"),
         ("build", "image-scan"), ("image-scan", "push"), ("push", "deploy"), ("deploy", "smoke"),
         ("web-lint", "web-test"), ("web-test", "web-build"), ("web-build", "image-scan"), ("web-test", "push")]

SECRET_VAR = re.compile(r"^[A-Z0-9_]*(TOKEN|PASSWORD|PASSWD|SECRET|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|PSW)"
                        r"[A-Z0-9_]*$")
SECRET_KEY = (r"(?<![$\w{-])([A-Za-z0-9_]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key"
              r"|private[_-]?key|client[_-]?secret))\b")
ASSIGN_RE = re.compile(SECRET_KEY + r"\s*(?:=|:)\s*(?:'([^'\n]*)'|\"([^\"\n]*)\"|([^\s'\",;)\]]+))",
                       re.IGNORECASE)
LITERAL_PATTERNS = [
    ("Telegram bot token", re.compile(r"(?<!\d)\d{6,}:[A-Za-z0-9_-]{30,}")),
    ("AWS access key id", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("password in URL", re.compile(r"[a-z][a-z0-9+.-]*://[^\s:/@'\"]+:([^\s@/'\"$]+)@")),
]


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, group, msg):
        self.passed += 1
        print("PASS [%s] %s" % (group, msg))

    def bad(self, group, msg):
        self.failed += 1
        print("FAIL [%s] %s" % (group, msg))

    def check(self, cond, group, msg, why=""):
        if cond:
            self.ok(group, msg)
        else:
            self.bad(group, msg + (": " + why if why else ""))


def check_lexical(m, r):
    if m.lx.errors:
        for line, msg in m.lx.errors:
            r.bad("lexical", "line %d: %s" % (line, msg))
    else:
        ntok = sum(1 for t in m.toks if t.kind == "op" and t.val in OPENERS)
        nstr = sum(1 for t in m.toks if t.kind == "str")
        r.ok("lexical", "braces, brackets and parentheses balance outside strings and comments "
             "(%d pairs, max depth %d, %d strings, %d comments)"
             % (ntok, m.lx.max_depth, nstr, len(m.lx.comments)))


def walk_stages(m, body, path, out, r):
    for e in m.entries(*body):
        if e.name != "stage":
            continue
        line = m.line(m.toks[e.idx].pos)
        names = m.strings(e.args) if e.args else []
        name = names[0].val if names else None
        st = {"name": name, "line": line, "pos": m.toks[e.idx].pos, "body": e.body, "kinds": [],
              "path": path + [name], "steps_empty": False}
        out.append(st)
        if name is None:
            r.bad("structure", "stage on line %d has no literal name: stage('...')" % line)
        if not e.body:
            continue
        for c in m.entries(*e.body):
            if c.name in ("steps", "stages", "parallel", "matrix") and c.body:
                st["kinds"].append(c.name)
                if c.name == "steps" and c.body[1] == c.body[0] + 1:
                    st["steps_empty"] = True
                if c.name in ("stages", "parallel"):
                    walk_stages(m, c.body, st["path"], out, r)
                elif c.name == "matrix":
                    for mc in m.entries(*c.body):
                        if mc.name == "stages" and mc.body:
                            walk_stages(m, mc.body, st["path"], out, r)


def telegram_in(m, rng, funcs, seen=None):
    """True when the token range sends to Telegram, directly or through a function
    of the file it calls."""
    seen = set() if seen is None else seen
    lo, hi = rng
    for tok in m.toks[lo + 1:hi]:
        if tok.kind == "str" and "api.telegram.org" in tok.val:
            return True
        if tok.kind == "id" and tok.val == "telegramSend":
            return True
        if tok.kind == "id" and tok.val in funcs and tok.val not in seen:
            seen.add(tok.val)
            if telegram_in(m, funcs[tok.val], funcs, seen):
                return True
    return False


NOTIFY_ID = re.compile(r"^(notify\w*|\w*[Tt]elegram\w*|mail|emailext|slackSend|mattermostSend|office365ConnectorSend)$")


def notification_in(m, rng, funcs):
    lo, hi = rng
    called = [t.val for t in m.toks[lo + 1:hi] if t.kind == "id" and NOTIFY_ID.match(t.val)]
    return called or (["telegram (direct)"] if telegram_in(m, rng, funcs) else [])


def check_structure(m, r):
    pipes = [e for e in m.top_entries() if e.name == "pipeline" and e.body]
    if len(pipes) != 1:
        r.bad("structure", "exactly one top-level pipeline { } block (found %d)" % len(pipes))
        return None
    pipe = pipes[0]
    r.ok("structure", "top-level pipeline { } block (line %d)" % m.line(m.toks[pipe.idx].pos))
    children = {}
    for e in m.entries(*pipe.body):
        children.setdefault(e.name, e)
    agent = children.get("agent")
    if agent:
        nxt = m.toks[agent.idx + 1]
        kind = "{...}" if agent.body else (nxt.val if nxt.kind == "id" else "?")
    r.check(agent is not None, "structure", "pipeline has an agent" + (" (%s)" % kind if agent else ""),
            "no agent directive directly inside pipeline { }")
    stages = children.get("stages")
    r.check(stages is not None and stages.body is not None, "structure", "pipeline has stages { }")
    funcs = m.functions()
    post = children.get("post")
    r.check(post is not None and post.body is not None, "structure", "pipeline has post { }")
    conds = {}
    if post and post.body:
        for e in m.entries(*post.body):
            if e.body:
                conds[e.name] = e.body
    fail_n = notification_in(m, conds["failure"], funcs) if "failure" in conds else []
    r.check(bool(fail_n), "structure", "post { failure } sends a notification" +
            (" (%s)" % ", ".join(sorted(set(fail_n))) if fail_n else ""),
            "no failure block" if "failure" not in conds else "failure block notifies nobody")
    ok_conds = [c for c in ("success", "fixed", "always") if c in conds]
    ok_n = [(c, notification_in(m, conds[c], funcs)) for c in ok_conds]
    ok_n = [(c, n) for c, n in ok_n if n]
    r.check(bool(ok_n), "structure", "post { success / fixed / always } sends a notification" +
            (" (%s)" % "; ".join("%s: %s" % (c, ", ".join(sorted(set(n)))) for c, n in ok_n) if ok_n else ""),
            "none of success, fixed, always notifies" if ok_conds else "no success, fixed or always block")

    all_stages = []
    if stages and stages.body:
        walk_stages(m, stages.body, [], all_stages, r)
    stray = [e for e in m.entries(*pipe.body) if e.name == "stage"]
    for e in stray:
        r.bad("structure", "stage on line %d is directly inside pipeline, not inside stages { }"
              % m.line(m.toks[e.idx].pos))
    bad = [s for s in all_stages if not s["kinds"] or s["steps_empty"]]
    for s in bad:
        r.bad("structure", "stage '%s' (line %d) has %s" % (
            s["name"], s["line"], "an empty steps { }" if s["kinds"] else "no steps, stages, parallel or matrix"))
    if not bad:
        r.check(bool(all_stages), "structure", "every stage has steps, stages, parallel or matrix (%d stages)"
                % len(all_stages), "no stage found")
    seen = {}
    dups = []
    for s in all_stages:
        if s["name"] is None:
            continue
        if s["name"] in seen:
            dups.append("'%s' (lines %d and %d)" % (s["name"], seen[s["name"]], s["line"]))
        else:
            seen[s["name"]] = s["line"]
    r.check(not dups, "structure", "stage names are unique", ", ".join(dups))
    return {"stages": all_stages, "conds": conds, "funcs": funcs, "pipe": pipe}


def find_required(m, info):
    """key -> first stage (file order) matching the names, or None."""
    found = {}
    for key, label, pats, excl, cpats in REQUIRED:
        for s in info["stages"] if info else []:
            name = s["name"] or ""
            if all(re.search(p, name, re.I) for p in pats) and not (excl and re.search(excl, name, re.I)):
                found[key] = s
                break
    return found


def check_stages(m, info, r):
    found = find_required(m, info)
    for key, label, pats, excl, cpats in REQUIRED:
        s = found.get(key)
        if s is None:
            r.bad("stages", "required stage: %s: no stage name matches /%s/" % (label, "/ and /".join(pats)))
            continue
        text = m.content(s["body"]) if s["body"] else ""
        missing = [p for p in cpats if not re.search(p, text, re.I)]
        r.check(not missing, "stages", "required stage: %s: '%s' (line %d)" % (label, s["name"], s["line"]),
                "it does not run /%s/" % "/, /".join(missing))
    wrong = []
    for a, b in ORDER:
        if a in found and b in found and not found[a]["pos"] < found[b]["pos"]:
            wrong.append("'%s' must come before '%s'" % (found[a]["name"], found[b]["name"]))
    r.check(not wrong, "stages", "gates run before delivery (lint, tests, audit, scans -> push -> deploy -> smoke)",
            "; ".join(wrong))
    conds = info["conds"] if info else {}
    funcs = info["funcs"] if info else {}
    for what, options in (("success", ("success", "always")), ("failure", ("failure", "always"))):
        via = [c for c in options if c in conds and telegram_in(m, conds[c], funcs)]
        r.check(bool(via), "stages", "Telegram notification on %s%s" % (what, " (post { %s })" % via[0] if via else ""),
                "no post { %s } block reaches api.telegram.org or telegramSend" % " / ".join(options))


def sh_scripts(m):
    """The string literals that are the script of a sh / bat step."""
    out = []
    toks = m.toks
    for k, tok in enumerate(toks):
        if tok.kind != "str":
            continue
        p1 = toks[k - 1] if k >= 1 else None
        p2 = toks[k - 2] if k >= 2 else None
        if p1 and p1.is_id("sh"):
            out.append(tok)
        elif p1 and p1.is_op("(") and p2 and p2.is_id("sh"):
            out.append(tok)
        elif p1 and p1.is_op(":") and p2 and p2.is_id("script"):
            # sh(script: '...', ...): make sure the call is sh(
            depth = 0
            for j in range(k - 3, -1, -1):
                if toks[j].is_op(")"):
                    depth += 1
                elif toks[j].is_op("("):
                    if depth == 0:
                        if j >= 1 and toks[j - 1].is_id("sh"):
                            out.append(tok)
                        break
                    depth -= 1
    return out


def ci_run_calls(run_path):
    """`.ci/<script>` names .ci/run calls (comments and log/echo lines ignored)."""
    calls = {}
    with open(run_path, encoding="utf-8") as fh:
        for line in fh:
            code = line.strip()
            if not code or code.startswith("#"):
                continue
            code = re.sub(r"\s+#.*$", "", code)
            if re.match(r"(log|echo|printf)\b", code):
                continue
            for mt in re.finditer(r"(?<![\w./-])(\.ci/[A-Za-z0-9_.-]+)", code):
                calls.setdefault(mt.group(1), code)
    return calls


PATH_RE = re.compile(r"(?<![\w./$-])((?:\.ci|infra)/[A-Za-z0-9_./<>${}\-]*)")


def check_scripts(m, repo, run_path, r):
    scripts = sh_scripts(m)

    def where(name):
        pat = re.compile(r"(?<![\w./-])" + re.escape(name) + r"(?![\w-])")
        for s in scripts:
            mt = pat.search(s.val)
            if mt:
                line = m.line(s.pos) + s.val.count("\n", 0, mt.start())
                src = s.val[:mt.start()].rsplit("\n", 1)[-1] + s.val[mt.start():].split("\n", 1)[0]
                return line, src.strip()
        return None

    try:
        calls = ci_run_calls(run_path)
    except OSError as exc:
        r.bad("scripts", "cannot read %s: %s" % (run_path, exc))
        calls = {}
    if calls:
        for name in sorted(calls):
            if name == ".ci/run":
                continue
            w = where(name)
            r.check(w is not None, "scripts", "%s (called by .ci/run) is called from a sh step%s"
                    % (name, " (line %d: %s)" % w if w else ""), "no sh step runs it (comments do not count)")
    elif os.path.exists(run_path):
        r.bad("scripts", "found no .ci/ script call in %s" % run_path)
    w = where(".ci/run")
    wt = None
    if w is None:
        for s in scripts:
            mt = re.search(r"cargo\s+(test|nextest)\b[^\n]*", s.val)
            if mt:
                wt = (m.line(s.pos) + s.val.count("\n", 0, mt.start()), mt.group(0).strip())
                break
    r.check(w is not None or wt is not None, "scripts", "tests run as CI runs them (%s)" % (
        ".ci/run, line %d: %s" % w if w else ("line %d: %s" % wt if wt else "-")),
        "no sh step runs .ci/run or cargo test")

    # Every .ci/... and infra/... path the file names (code, strings and comments).
    paths = {}
    for mt in PATH_RE.finditer(m.text):
        p = mt.group(1).rstrip(".,:;")
        paths.setdefault(p, m.line(mt.start()))
    for p in sorted(paths):
        pattern = re.sub(r"<[^<>/]*>|\$\{[^}/]*\}|\$[A-Za-z_][A-Za-z0-9_]*", "*", p)
        if "*" in pattern:
            hits = glob.glob(os.path.join(repo, pattern))
        else:
            hits = [p] if os.path.exists(os.path.join(repo, p)) else []
        r.check(bool(hits), "scripts", "referenced path exists: %s (line %d)%s" % (
            p, paths[p], " -> %d match(es)" % len(hits) if "*" in pattern and hits else ""),
            "not in the repository")


def check_secrets(m, r):
    text = m.text
    found = []
    for mt in ASSIGN_RE.finditer(text):
        value = next(v for v in mt.groups()[1:] if v is not None)
        v = value.strip()
        if (not v or v.startswith("$") or "${" in v or v.startswith("credentials(")
                or re.match(r"^(params|env)\.\w+$", v)):
            continue
        found.append("line %d: %s = '%s'" % (m.line(mt.start()), mt.group(1), v[:4] + "..."))
    for label, pat in LITERAL_PATTERNS:
        for mt in pat.finditer(text):
            found.append("line %d: %s '%s...'" % (m.line(mt.start()), label, mt.group(0)[:8]))
    # password(name: ..., defaultValue: '<literal>') parameters
    for mt in re.finditer(r"\bpassword\s*\(([^)]*)\)", text):
        dv = re.search(r"defaultValue\s*:\s*(['\"])([^'\"]+)\1", mt.group(1))
        if dv:
            found.append("line %d: password parameter with a default value" % m.line(mt.start()))
    r.check(not found, "secrets", "no literal secret (assignments, bot tokens, keys, URL passwords)",
            "; ".join(found))

    # Secret variables must be bound by withCredentials or credentials().
    toks = m.toks
    bound = set()
    env_literal = []
    for k, tok in enumerate(toks):
        if tok.kind == "id" and tok.val.endswith("Variable") and k + 2 < len(toks) \
                and toks[k + 1].is_op(":") and toks[k + 2].kind == "str":
            bound.add(toks[k + 2].val)
        if tok.is_id("variable") and k + 2 < len(toks) and toks[k + 1].is_op(":") and toks[k + 2].kind == "str":
            bound.add(toks[k + 2].val)
    pipes = [e for e in m.top_entries() if e.name == "pipeline" and e.body]
    env_blocks = []

    def collect_env(rng):
        for e in m.entries(*rng):
            if e.name == "environment" and e.body:
                env_blocks.append(e.body)
            elif e.body and e.name in ("stages", "stage", "parallel", "matrix"):
                collect_env(e.body)
    for p in pipes:
        collect_env(p.body)
    for lo, hi in env_blocks:
        for k in range(lo + 1, hi):
            tok = toks[k]
            if tok.kind == "id" and k + 1 < hi and toks[k + 1].is_op("="):
                if k + 2 < hi and toks[k + 2].is_id("credentials"):
                    bound.update({tok.val, tok.val + "_USR", tok.val + "_PSW"})
                elif SECRET_VAR.match(tok.val):
                    env_literal.append("line %d: %s" % (m.line(tok.pos), tok.val))
    used = {}
    for tok in m.toks:
        if tok.kind != "str":
            continue
        for mt in re.finditer(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", tok.val):
            name = mt.group(1)
            if SECRET_VAR.match(name) and not name.endswith("_ID"):
                used.setdefault(name, m.line(tok.pos) + tok.val.count("\n", 0, mt.start()))
    unbound = ["%s (line %d)" % (n, used[n]) for n in sorted(used) if n not in bound]
    r.check(not unbound and not env_literal, "secrets",
            "secrets reach steps only through withCredentials / credentials() (%s)"
            % (", ".join(sorted(used)) or "none used"),
            "; ".join((["not bound: " + ", ".join(unbound)] if unbound else []) +
                      (["environment sets a secret without credentials(): " + ", ".join(env_literal)]
                       if env_literal else [])))


def run_checks(jenkinsfile, repo, run_path):
    r = Report()
    try:
        with open(jenkinsfile, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        r.bad("lexical", "cannot read %s: %s" % (jenkinsfile, exc))
        print("%d passed, %d failed" % (r.passed, r.failed))
        return 1
    m = Model(text)
    check_lexical(m, r)
    info = check_structure(m, r)
    check_stages(m, info, r)
    check_scripts(m, repo, run_path, r)
    check_secrets(m, r)
    print("%d passed, %d failed" % (r.passed, r.failed))
    return 1 if r.failed else 0


# ---------------------------------------------------------------------------------
# Self-test: broken copies must be rejected, the untouched copy must pass
# ---------------------------------------------------------------------------------
class NotApplicable(Exception):
    pass


def parsed(text):
    """The model and the structure info of a text, without printing."""
    m = Model(text)
    with contextlib.redirect_stdout(io.StringIO()):
        info = check_structure(m, Report())
    return m, info


def sub1(pattern, repl, text, flags=0):
    new, n = re.subn(pattern, repl, text, count=1, flags=flags)
    if not n:
        raise NotApplicable("pattern /%s/ not found" % pattern)
    return new


def insert_after(pattern, snippet, text):
    mt = re.search(pattern, text)
    if not mt:
        raise NotApplicable("pattern /%s/ not found" % pattern)
    return text[:mt.end()] + "\n" + snippet + "\n" + text[mt.end():]


def in_steps(snippet):
    return lambda t: insert_after(r"\bsteps\s*\{", snippet, t)


def in_stages(snippet):
    return lambda t: insert_after(r"\bstages\s*\{", snippet, t)


def rename_required(key):
    def mutate(text):
        m, info = parsed(text)
        s = find_required(m, info).get(key)
        if s is None:
            raise NotApplicable("no stage found for %s" % key)
        return sub1(r"stage\(\s*(['\"])%s\1\s*\)" % re.escape(s["name"]), "stage('Renamed stage')", text)
    return mutate


def drop_failure_notification(text):
    m, info = parsed(text)
    body = info and info["conds"].get("failure")
    if not body:
        raise NotApplicable("no post { failure } block")
    lo, hi = m.toks[body[0]].pos, m.toks[body[1]].end
    part = re.sub(r"\b(notify\w*|telegramSend)\b", "echo", text[lo:hi])
    if part == text[lo:hi]:
        raise NotApplicable("post { failure } calls no notify function")
    return text[:lo] + part + text[hi:]


def fake_bot_token():
    return "1234567890:" + "AAFakeTokenForTheSelfTest" + "x" * 12  # built, never stored literally


CASES = [
    # (description, mutation, expected FAIL group, substring of that FAIL line)
    ("unbalanced brace (last } removed)", lambda t: sub1(r"\}\s*$", "\n", t), "lexical", "never closed"),
    ("unclosed parenthesis in a step", in_steps("echo('unclosed'"), "lexical", "'('"),
    ("mismatched bracket", in_steps("echo(['a', 'b')]"), "lexical", "does not close"),
    ("unterminated string", in_steps("echo 'no end quote"), "lexical", "unterminated string"),
    ("unterminated block comment", lambda t: t + "\n/* never closed\n", "lexical", "unterminated /*"),
    ("stage without steps", in_stages("stage('No steps here') {\n    when { branch 'main' }\n}"),
     "structure", "'No steps here'"),
    ("stage with empty steps", in_stages("stage('Empty steps') {\n    steps { }\n}"),
     "structure", "'Empty steps'"),
    ("duplicate stage name", lambda t: in_stages("stage('%s') {\n    steps { echo 'again' }\n}"
                                                 % re.search(r"stage\('([^']+)'\)", t).group(1))(t),
     "structure", "unique"),
    ("no agent", lambda t: sub1(r"\bagent\s+(any|none)\b", "", t), "structure", "agent"),
    ("post without failure block", lambda t: sub1(r"\bfailure(\s*\{)", r"changed\1", t),
     "structure", "failure"),
    ("missing required stage: image scan (renamed)", rename_required("image-scan"), "stages", "image scan"),
    ("missing required stage: smoke test (renamed)", rename_required("smoke"), "stages", "smoke"),
    ("missing required stage: push images (renamed)", rename_required("push"), "stages", "push images"),
    ("missing required stage: web app lint (renamed)", rename_required("web-lint"), "stages", "web app lint"),
    ("missing required stage: web app tests (renamed)", rename_required("web-test"), "stages", "web app tests"),
    ("missing required stage: web app image (renamed)", rename_required("web-build"), "stages", "web app image"),
    ("web image stage without the web Dockerfile",
     lambda t: sub1(r"--file web/Dockerfile", "--file Dockerfile", t), "stages", "web app image"),
    ("image scan stage after the push", lambda t: t, None, None),  # placeholder, replaced below
    ("no Telegram notification on failure", drop_failure_notification, "stages", "on failure"),
    ("reference to a missing .ci script", in_steps("sh 'bash .ci/no-such-script'"),
     "scripts", ".ci/no-such-script"),
    ("reference to a missing infra path", in_steps("sh 'python3 infra/no-such-dir/tool.py'"),
     "scripts", "infra/no-such-dir"),
    ("a .ci/run script no longer called (only in a comment)",
     lambda t: sub1(r"\bbash \.ci/audit\b(?![-\w])", "cargo audit --deny warnings", t),
     "scripts", ".ci/audit"),
    ("literal Telegram bot token", lambda t: in_steps(
        "sh 'curl -fsS https://api.telegram.org/bot%s/getMe'" % fake_bot_token())(t),
     "secrets", "bot token"),
    ("literal password assignment", lambda t: insert_after(r"\benvironment\s*\{",
                                                           "DB_PASSWORD = 'hunter2-literal'", t),
     "secrets", "DB_PASSWORD"),
    ("password in a URL", in_steps("sh 'psql postgres://app:s3cretpass@db:5432/app -c \"SELECT 1\"'"),
     "secrets", "password in URL"),
    ("secret variable not bound by withCredentials",
     in_steps("sh 'curl -H \"Authorization: Bearer $DEPLOY_API_TOKEN\" https://example.invalid'"),
     "secrets", "DEPLOY_API_TOKEN"),
]


def swap_stages(a_key, b_key):
    """Moves stage a right after stage b (so b comes first)."""
    def mutate(text):
        m, info = parsed(text)
        found = find_required(m, info)
        if a_key not in found or b_key not in found:
            raise NotApplicable("stages not found")
        a, b = found[a_key], found[b_key]
        a_lo = text.rfind("\n", 0, a["pos"]) + 1
        a_hi = m.toks[a["body"][1]].end
        b_hi = m.toks[b["body"][1]].end
        if not a_hi < b["pos"]:
            raise NotApplicable("already out of order")
        block = text[a_lo:a_hi]
        return text[:a_lo] + text[a_hi:b_hi] + "\n" + block + text[b_hi:]
    return mutate


CASES[[c[0] for c in CASES].index("image scan stage after the push")] = (
    "image scan stage moved after the push", swap_stages("image-scan", "push"), "stages", "before")
CASES.append(("web image built after the image scan", swap_stages("web-build", "image-scan"), "stages", "before"))

POSITIVE = [
    ("untouched copy", lambda t: t),
    ("brackets inside strings, GStrings and comments are ignored", in_steps(
        "echo 'a { and ( in a single-quoted string'\n"
        "echo \"a [ in a GString with ${[1, 2].collect { it * 2 }} and ${'}'} and $HOME\"\n"
        "echo '''a ) in a triple-quoted string'''\n"
        "echo \"\"\"a } in a triple GString ${env.X ?: \"{\"}\"\"\"\n"
        "// a } in a line comment\n"
        "/* a ) and { in a block comment */")),
]


def self_test(jenkinsfile, repo, run_path):
    with open(jenkinsfile, encoding="utf-8") as fh:
        original = fh.read()
    passed = failed = 0
    tmp = tempfile.mkdtemp(prefix="check-jenkinsfile.")
    me = os.path.abspath(__file__)

    def run_copy(text, tag):
        path = os.path.join(tmp, tag, "Jenkinsfile")
        os.makedirs(os.path.dirname(path))
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        proc = subprocess.run([sys.executable, me, "--jenkinsfile", path, "--repo", repo, "--ci-run", run_path],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        return proc.returncode, proc.stdout.splitlines()

    try:
        for n, (desc, mutate) in enumerate(POSITIVE):
            try:
                text = mutate(original)
            except NotApplicable as exc:
                failed += 1
                print("FAIL self-test: %s: mutation not applicable (%s)" % (desc, exc))
                continue
            rc, lines = run_copy(text, "ok%d" % n)
            fails = [l for l in lines if l.startswith("FAIL")]
            if rc == 0 and not fails:
                passed += 1
                print("PASS self-test: %s passes (%s)" % (desc, lines[-1] if lines else "?"))
            else:
                failed += 1
                print("FAIL self-test: %s is rejected: %s" % (desc, " | ".join(fails) or "exit %d" % rc))
        for n, (desc, mutate, group, needle) in enumerate(CASES):
            try:
                text = mutate(original)
            except (NotApplicable, AttributeError) as exc:
                failed += 1
                print("FAIL self-test: %s: mutation not applicable (%s)" % (desc, exc))
                continue
            if text == original:
                failed += 1
                print("FAIL self-test: %s: mutation changed nothing" % desc)
                continue
            rc, lines = run_copy(text, "bad%d" % n)
            hits = [l for l in lines if l.startswith("FAIL [%s]" % group) and needle.lower() in l.lower()]
            if rc != 0 and hits:
                passed += 1
                print("PASS self-test: %s is rejected: %s" % (desc, hits[0]))
            else:
                failed += 1
                fails = [l for l in lines if l.startswith("FAIL")]
                print("FAIL self-test: %s is NOT rejected by [%s] (exit %d; failures: %s)"
                      % (desc, group, rc, " | ".join(fails) or "none"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description="Static checks of the declarative Jenkinsfile.")
    ap.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--jenkinsfile", help="default: <repo>/Jenkinsfile")
    ap.add_argument("--ci-run", help="the CI entry point whose script calls must be mirrored "
                                     "(default: <repo>/.ci/run)")
    ap.add_argument("--self-test", action="store_true",
                    help="prove every check rejects a broken copy of the Jenkinsfile")
    a = ap.parse_args()
    repo = os.path.abspath(a.repo)
    jf = a.jenkinsfile or os.path.join(repo, "Jenkinsfile")
    run_path = a.ci_run or os.path.join(repo, ".ci", "run")
    if a.self_test:
        return self_test(jf, repo, run_path)
    return run_checks(jf, repo, run_path)


if __name__ == "__main__":
    sys.exit(main())
