#!/usr/bin/env python3
"""Static check of the loop budget's declarations (src/core/launch.h: clrnn_karg_loops).

A device with a loop bound (Mesa llvmpipe/Rusticl: ctx->loop_limit) ends a work-item's loops early,
so every launch of a kernel that loops over a runtime size must declare the iterations a work-item
runs (clrnn_karg_loops), and clrnn_enqueue refuses one over the budget. A launch that forgets is a
silent wrong result there. This script finds those kernels and checks the host declares them:

1. Kernel side. Each OpenCL program clrnn builds is read from the build's own lists (the
   set(CLRNN_*CL_SOURCES ...) of CMakeLists.txt and tools/cmake/onnx.cmake: files, in order),
   included in that order and preprocessed with the C preprocessor under every variant of the
   defines the host passes (-DREAL=float; CLRNN_COMPACT=0|1; CLRNN_STORAGE=0|1|2 for the main
   program). Every __kernel function is followed through its calls into the program's helpers; it
   is a "loop kernel" when a reachable for/while/do loop's condition, or a for loop's start, is not
   a compile-time constant. Constant: numbers (macros are expanded, so ABI constants are numbers),
   the loop's own variables, a helper's parameter that the call on that path passes as a constant,
   a `const` local set from constants or min(C, x) (`lanes = min(16, H - j)`); and for (v = X;
   v < X + C; ...). A while loop's variables (assigned in it) start where they are assigned before
   it. `do { } while (0)` is constant, `while (1)` is not.
2. Host side. tools/loop_kernels.txt lists every loop kernel with the host file and function that
   launch it and declare its loops. The check fails when a loop kernel is not listed; a listed
   kernel does not exist or has no runtime loop; no host source names it (CLRNN_K_<name>,
   TK_<name>, GLUE_K_<name>, "<name>"); the function is not in the file; it does not itself call
   clrnn_karg_loops (or copy a declared count: `.loops =`); or it does not pick that kernel (it
   names it, or a function or kernel-table field (.tiled_scan = {CLRNN_K_...}) that does, or a
   function of its file that calls it does). A .cl file of cl/ in no program fails too.

Usage: check_loops.py [--root DIR] [--list FILE] [--print]
  --print    lists every kernel with its program, place and first runtime loop found
Exit 0 when everything matches, 1 with one line per mismatch (naming the kernel and the file).
Python 3 standard library only; needs a C preprocessor (cpp, gcc or clang: $CPP overrides).
"""
import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys

# ---------------------------------------------------------------------------------------------
# the programs, from the build's lists
# ---------------------------------------------------------------------------------------------
CMAKE_FILES = ["CMakeLists.txt", "tools/cmake/onnx.cmake"]
SOURCES_SET = re.compile(r"set\(\s*(CLRNN_\w*CL_SOURCES)\s+([^)]*)\)", re.S)
# defines every program is built with (program.c: build_options, storage_options, device_options)
# and the variants a device may add; the OpenCL C version macro keeps the shared headers on their
# OpenCL side (abi.h, rng.h).
BASE_DEFINES = ["-DREAL=float", "-D__OPENCL_VERSION__=120", "-D__OPENCL_C_VERSION__=120"]
# CLRNN_COMPACT (device_options) reaches every program; the storage types only the main one
# (program.c: storage_options, the program of cl/'s files; the others are built fp32)
VARIANTS = [["-DCLRNN_STORAGE=%d" % s, "-DCLRNN_COMPACT=%d" % c] for s, c in itertools.product((0, 1, 2), (0, 1))]
STORAGE_PROGRAM = "CLRNN_CL_SOURCES"


def read_programs(root):
    progs = {}
    for rel in CMAKE_FILES:
        path = os.path.join(root, rel)
        if not os.path.exists(path):
            continue
        text = re.sub(r"#[^\n]*", "", open(path, encoding="utf-8").read())
        for m in SOURCES_SET.finditer(text):
            files = []
            for tok in m.group(2).split():
                tok = tok.replace("${CLRNN_CL_DIR}", "cl")
                tok = re.sub(r"\$\{(CMAKE_CURRENT_SOURCE_DIR|PROJECT_SOURCE_DIR)\}/?", "", tok)
                if "${" in tok:
                    raise SystemExit("check_loops: %s: cannot resolve %s in %s" % (rel, tok, m.group(1)))
                files.append(tok)
            progs[m.group(1)] = files
    if not progs:
        raise SystemExit("check_loops: no set(CLRNN_*CL_SOURCES ...) found under %s" % root)
    return progs


def find_cpp():
    if os.environ.get("CPP"):
        return os.environ["CPP"].split()
    for cand in ("cpp", "gcc", "clang"):
        exe = shutil.which(cand)
        if exe:
            return [exe] if cand == "cpp" else [exe, "-E"]
    raise SystemExit("check_loops: no C preprocessor (cpp, gcc or clang) found; set CPP")


def preprocess(cpp, root, files, defines):
    # each file #included by absolute path, in the build's order: the line markers then name it
    src = "".join('#include "%s"\n' % os.path.abspath(os.path.join(root, f)) for f in files)
    cmd = cpp + ["-x", "c", "-std=c11", "-undef", "-nostdinc"] + BASE_DEFINES + defines + ["-"]
    res = subprocess.run(cmd, input=src, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit("check_loops: preprocessing %s failed:\n%s" % (" ".join(files), res.stderr))
    return res.stdout


# ---------------------------------------------------------------------------------------------
# a small C tokenizer and the functions of a preprocessed program
# ---------------------------------------------------------------------------------------------
TOKEN = re.compile(
    r"""(?P<ws>[ \t\r\f\v]+)|(?P<nl>\n)|(?P<mark>^\#[^\n]*)|(?P<num>\.?\d(?:[eEpP][+-]|[\w.])*)
    |(?P<id>[A-Za-z_]\w*)|(?P<str>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
    |(?P<op>->|\+\+|--|<<=?|>>=?|[<>!=+\-*/%&|^]=|&&|\|\||\#\#|[^\s])""",
    re.X | re.M,
)
LINEMARK = re.compile(r'^#\s*(?:line\s+)?(\d+)\s+"([^"]*)"')

# words of a loop condition that are not variables: types (casts), sizeof, literals
NOT_VARIABLES = set(
    """sizeof int uint unsigned signed long ulong short ushort char uchar float double half size_t
    ptrdiff_t intptr_t uintptr_t bool true false const volatile real real4 real16 float4 float16""".split()
)
C_KEYWORDS = {"if", "for", "while", "do", "switch", "return", "sizeof", "else", "case", "goto"}


class Tok:
    __slots__ = ("kind", "text", "file", "line")

    def __init__(self, kind, text, file, line):
        self.kind, self.text, self.file, self.line = kind, text, file, line


def tokenize(text, root):
    toks, file, line = [], "?", 1
    for m in TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "nl":
            line += 1
        elif kind == "mark":
            lm = LINEMARK.match(m.group())
            if lm:
                file, line = os.path.relpath(lm.group(2), root) if os.path.isabs(lm.group(2)) else lm.group(2), int(lm.group(1)) - 1
        elif kind != "ws":
            toks.append(Tok(kind, m.group(), file, line))
    return toks


def match_close(toks, i):
    """Index of the bracket closing the one at toks[i]."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    open_, close, depth = toks[i].text, pairs[toks[i].text], 0
    for j in range(i, len(toks)):
        if toks[j].text == open_:
            depth += 1
        elif toks[j].text == close:
            depth -= 1
            if depth == 0:
                return j
    raise SystemExit("check_loops: unbalanced %s at %s:%d" % (open_, toks[i].file, toks[i].line))


class Func:
    def __init__(self, name, is_kernel, params, body, tok):
        self.name, self.is_kernel, self.params, self.body, self.tok = name, is_kernel, params, body, tok


def split_top(toks, sep):
    """toks split at depth-0 `sep` tokens."""
    parts, cur, depth = [], [], 0
    for t in toks:
        if t.text in "([{":
            depth += 1
        elif t.text in ")]}":
            depth -= 1
        if depth == 0 and t.text == sep:
            parts.append(cur)
            cur = []
        else:
            cur.append(t)
    parts.append(cur)
    return parts


def functions(toks):
    """The function definitions at file scope."""
    funcs, i, start = {}, 0, 0
    while i < len(toks):
        t = toks[i]
        if t.text in (";", "}"):
            start = i + 1
        elif t.text == "{":
            j = match_close(toks, i)
            # a definition: ... name ( params ) {
            if i > 0 and toks[i - 1].text == ")":
                depth, k = 0, i - 1
                while k >= start:
                    if toks[k].text == ")":
                        depth += 1
                    elif toks[k].text == "(":
                        depth -= 1
                        if depth == 0:
                            break
                    k -= 1
                if k > start and toks[k - 1].kind == "id":
                    name = toks[k - 1].text
                    head = {x.text for x in toks[start : k - 1]}
                    params = []
                    for p in split_top(toks[k + 1 : i - 1], ","):
                        ids = [x.text for x in p if x.kind == "id"]
                        params.append(ids[-1] if ids else None)
                    funcs[name] = Func(name, bool(head & {"__kernel", "kernel"}), params, toks[i + 1 : j], toks[k - 1])
            i, start = j + 1, j + 1
            continue
        i += 1
    return funcs


def is_constant(expr, allowed):
    """Whether expr is bounded by a compile-time constant: every identifier of it a non-variable
    word or in `allowed` (the loop's variables, the bounded parameters and locals), or it is
    min(a, b) / clamp(x, lo, hi) with a bounded a or b / hi (`lanes = min(16, width - j)`)."""
    if len(expr) >= 3 and expr[0].text in ("min", "clamp") and expr[1].text == "(" and match_close(expr, 1) == len(expr) - 1:
        args = split_top(expr[2:-1], ",")
        if expr[0].text == "min" and len(args) == 2 and any(a and is_constant(a, allowed) for a in args):
            return True
        if expr[0].text == "clamp" and len(args) == 3 and args[2] and is_constant(args[2], allowed):
            return True
    if len(expr) >= 2 and expr[0].text == "(" and match_close(expr, 0) == len(expr) - 1:
        return is_constant(expr[1:-1], allowed)
    return all(t.kind != "id" or t.text in NOT_VARIABLES or t.text in allowed for t in expr)


def bounded_locals(body, allowed):
    """The `const T name = expr;` locals of a body whose expr is bounded (in order: one may use an
    earlier one), with `allowed` already bounded."""
    allowed = set(allowed)
    for i in range(len(body) - 3):
        if body[i].text != "const":
            continue
        j = i + 1
        while j < len(body) and body[j].kind == "id" and body[j + 1].kind == "id":
            j += 1  # the type's words
        if j + 1 < len(body) and body[j].kind == "id" and body[j + 1].text == "=":
            k = j + 2
            depth = 0
            while k < len(body) and not (depth == 0 and body[k].text in (";", ",")):
                depth += body[k].text in "([{"
                depth -= body[k].text in ")]}"
                k += 1
            if is_constant(body[j + 2 : k], allowed):
                allowed.add(body[j].text)
    return allowed


ASSIGN_OPS = ("=", "+=", "-=", "*=", "/=", "%=", "<<=", ">>=", "&=", "|=", "^=", "++", "--")


def assigned(pieces):
    """The variables assigned, incremented or decremented in token lists `pieces`."""
    out = set()
    for piece in pieces:
        for k, x in enumerate(piece):
            if x.kind != "id" or x.text in NOT_VARIABLES:
                continue
            nxt = piece[k + 1].text if k + 1 < len(piece) else ""
            prv = piece[k - 1].text if k > 0 else ""
            if nxt in ASSIGN_OPS or prv in ("++", "--"):
                out.add(x.text)
    return out


def loops_and_calls(f, funcs):
    """f's loops as (kind, cond tokens, loop variables, token) and its calls to program functions
    as (callee, argument token lists)."""
    loops, calls, body = [], [], f.body
    for i, t in enumerate(body):
        if t.kind != "id" or i + 1 >= len(body) or body[i + 1].text != "(":
            continue  # a `do` is found by its `while (cond)`
        if t.text == "for":
            j = match_close(body, i + 1)
            parts = split_top(body[i + 2 : j], ";")
            if len(parts) != 3:
                continue
            init, cond = parts[0], parts[1]
            # the loop's variables: those declared or assigned in its init, and assigned in its step
            lvars = assigned(split_top(init, ",") + split_top(parts[2], ","))
            loops.append(("for", cond, lvars, init, t))
        elif t.text == "while":
            j = match_close(body, i + 1)
            # the loop's body: a do's block before it, else the statement after it
            if i > 0 and body[i - 1].text == "}" and j + 1 < len(body) and body[j + 1].text == ";":
                k = i - 1
                depth = 0
                while k >= 0:
                    depth += body[k].text == "}"
                    depth -= body[k].text == "{"
                    if depth == 0:
                        break
                    k -= 1
                stmt = body[k:i]
            elif j + 1 < len(body) and body[j + 1].text == "{":
                stmt = body[j + 1 : match_close(body, j + 1) + 1]
            else:
                k = j + 1
                while k < len(body) and body[k].text != ";":
                    k = match_close(body, k) + 1 if body[k].text in "([{" else k + 1
                stmt = body[j + 1 : k]
            cond = body[i + 2 : j]
            lvars = assigned([cond, stmt]) & {x.text for x in cond if x.kind == "id"}
            # their starts: every `v = expr` before the loop (a declaration's or an assignment's)
            starts = []
            for k in range(i):
                if body[k].text in lvars and k + 1 < i and body[k + 1].text == "=":
                    e = k + 2
                    depth = 0
                    while e < i and not (depth == 0 and body[e].text in (";", ",")):
                        depth += body[e].text in "([{"
                        depth -= body[e].text in ")]}"
                        e += 1
                    starts.append(body[k - 1 : e])  # `v = expr`, as a for loop's init piece
            unset = [v for v in lvars if not any(st[1].text == v or st[0].text == v for st in starts)]
            loops.append(("while", cond, lvars - set(unset), starts, t))
        elif t.text in funcs and t.text not in C_KEYWORDS:
            j = match_close(body, i + 1)
            calls.append((t.text, split_top(body[i + 2 : j], ",")))
    return loops, calls


def constant_loop(kind, cond, lvars, init, const_params):
    if not cond:
        return False  # for (;;)
    if all(t.kind == "num" or t.text in "()" for t in cond):
        # do { } while (0) of a macro runs once; a constant true condition (while (1)) ends on data
        return all(t.text in ("0", "0u", "0U", "(", ")") for t in cond)
    # the trip count is fixed by the condition and the loop variables' start: both constant
    # (for (k = ndim - 1; k >= 0; --k) counts ndim; a while loop's starts are its variables'
    # assignments before it, and a variable with none is not a loop variable)
    pieces = init if kind == "while" else split_top(init, ",")
    starts = [p[[x.text for x in p].index("=") + 1 :] for p in pieces if "=" in [x.text for x in p]]
    if is_constant(cond, lvars | const_params) and all(is_constant(st, const_params) for st in starts):
        return True
    if kind == "while":
        return False
    # for (v = X; v < X + C; ...): a constant trip count from a runtime start
    for piece in split_top(init, ","):
        ids = [x.text for x in piece]
        if "=" in ids:
            k = ids.index("=")
            var, start = ids[k - 1], piece[k + 1 :]
            if not start or not is_constant(cond, lvars | const_params | {x.text for x in start}):
                continue
            text = " ".join(x.text for x in cond)
            stext = " ".join(x.text for x in start)
            for op in ("<", "<=", "!="):
                for pre in (stext + " + ", "( " + stext + " ) + "):
                    head = "%s %s %s" % (var, op, pre)
                    if text.startswith(head) and is_constant(cond[len(head.split()) :], set()):
                        return True
    return False


class Program:
    def __init__(self, name, files, toks):
        self.name, self.files = name, files
        self.funcs = functions(toks)
        self.info = {n: loops_and_calls(f, self.funcs) for n, f in self.funcs.items()}
        self.memo = {}

    def runtime_loop(self, fname, const_params, stack=()):
        """The first loop reachable from fname (with those of its parameters constant) whose
        condition is not a compile-time constant: (function, token, condition text), or None."""
        key = (fname, const_params)
        if key in self.memo:
            return self.memo[key]
        if fname in stack:
            return None  # OpenCL C has no recursion; do not loop here either
        loops, calls = self.info[fname]
        found = None
        bounded = bounded_locals(self.funcs[fname].body, const_params)
        for kind, cond, lvars, init, tok in loops:
            if not constant_loop(kind, cond, lvars, init, bounded):
                head = " ".join(x.text for x in init) + "; " if kind == "for" else ""
                found = (fname, tok, "%s (%s%s)" % (kind, head, " ".join(x.text for x in cond)))
                break
        if not found:
            for callee, args in calls:
                params = self.funcs[callee].params
                consts = frozenset(p for p, a in zip(params, args) if p and a and is_constant(a, bounded))
                found = self.runtime_loop(callee, consts, stack + (fname,))
                if found:
                    break
        self.memo[key] = found
        return found

    def kernels(self):
        return {n: f for n, f in self.funcs.items() if f.is_kernel}


def analyse(root):
    """{kernel: (program, first runtime loop or None, defining file:line)} over every program and
    define variant; a kernel is a loop kernel when any variant loops at run time."""
    cpp = find_cpp()
    result = {}
    programs = read_programs(root)
    for pname, files in sorted(programs.items()):
        for defines in VARIANTS if pname == STORAGE_PROGRAM else [v for v in VARIANTS if v[0] == "-DCLRNN_STORAGE=0"]:
            prog = Program(pname, files, tokenize(preprocess(cpp, root, files, defines), root))
            for kname, f in prog.kernels().items():
                loop = prog.runtime_loop(kname, frozenset())
                where = "%s:%d" % (f.tok.file, f.tok.line)
                old = result.get(kname)
                if old and old[0] != pname:
                    continue  # a kernel in two programs (shared file): the first program's view
                if old is None or (old[1] is None and loop is not None):
                    result[kname] = (pname, loop, where)
    return programs, result


# ---------------------------------------------------------------------------------------------
# the host side
# ---------------------------------------------------------------------------------------------
def strip_c(text):
    """C source without comments and string contents (kept as ""), newlines kept."""
    out = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group().count("\n"), text, flags=re.S)
    out = re.sub(r"//[^\n]*", "", out)
    return out


def c_functions(text):
    """{name: body} of the function definitions of a C file: comments stripped, strings kept (the
    braces are matched on a copy with string contents blanked)."""
    text = strip_c(text)
    blank = lambda m: m.group()[0] + " " * (len(m.group()) - 2) + m.group()[0]
    nostr = re.sub(r'"(?:\\.|[^"\\\n])*"', blank, text)
    nostr = re.sub(r"'(?:\\.|[^'\\\n])*'", blank, nostr)
    funcs = {}
    for m in re.finditer(r"^[A-Za-z_][\w \t\*]*?\b([A-Za-z_]\w*)\s*\([^;{}]*\)\s*\{", nostr, re.M):
        name = m.group(1)
        if name in C_KEYWORDS:
            continue
        i, depth = m.end() - 1, 0
        for j in range(i, len(nostr)):
            if nostr[j] == "{":
                depth += 1
            elif nostr[j] == "}":
                depth -= 1
                if depth == 0:
                    funcs[name] = text[i : j + 1]
                    break
    return funcs


def kernel_pattern(kernel):
    return re.compile(r'\b(?:CLRNN_K_|TK_|GLUE_K_)%s\b|\bX\(%s\)|"%s"' % ((re.escape(kernel),) * 3))


class Host:
    """The host sources: their functions, and the kernel tables' fields (`.tiled_scan = {CLRNN_K_...}`
    of a designated initializer: the kernels that field can hold)."""

    def __init__(self, root):
        self.sources = host_sources(root)
        self.funcs = {p: c_functions(t) for p, t in self.sources.items() if p.endswith(".c")}
        self.all_funcs = {}
        for p, fs in self.funcs.items():
            for n, b in fs.items():
                self.all_funcs.setdefault(n, []).append(b)
        self.fields = {}
        for p, t in self.sources.items():
            t = strip_c(t)
            for m in re.finditer(r"\.([A-Za-z_]\w*)\s*=\s*", t):
                j = m.end()
                if j < len(t) and t[j] == "{":
                    depth, k = 0, j
                    while k < len(t):
                        depth += t[k] == "{"
                        depth -= t[k] == "}"
                        if depth == 0:
                            break
                        k += 1
                    init = t[j : k + 1]
                else:
                    init = re.match(r"[^,;}]*", t[j:]).group()
                self.fields.setdefault(m.group(1), []).append(init)

    def named(self, kernel):
        pat = kernel_pattern(kernel)
        return sorted(p for p, text in self.sources.items() if pat.search(strip_c(text)))

    def picks(self, body, kernel):
        """Whether body names the kernel, or a function or a table field that does."""
        pat = kernel_pattern(kernel)
        if pat.search(body):
            return True
        for tok in set(re.findall(r"\b[A-Za-z_]\w*\b", body)):
            if any(pat.search(b) for b in self.all_funcs.get(tok, ())):
                return True
            if any(pat.search(init) for init in self.fields.get(tok, ())):
                return True
        return False

    def launches(self, path, func, kernel):
        """Whether func of path (or a function of the same file that calls it: the kernel chosen
        there, its arguments declared here) picks the kernel."""
        fs = self.funcs[path]
        if self.picks(fs[func], kernel):
            return True
        call = re.compile(r"\b%s\s*\(" % re.escape(func))
        return any(call.search(b) and self.picks(b, kernel) for n, b in fs.items() if n != func)


DECLARES = re.compile(r"\bclrnn_karg_loops\s*\(|(?:\.|->)loops\s*=[^=]")


def declares_loops(funcs, name):
    """Whether function `name` itself declares a launch's loops (not through another function: one
    that calls a declaring helper would pass for every kernel it launches)."""
    body = funcs.get(name)
    return body is not None and DECLARES.search(body) is not None


def host_sources(root):
    out = {}
    for d in ("src", "include"):
        for dirpath, _, names in os.walk(os.path.join(root, d)):
            for n in names:
                if n.endswith((".c", ".h")):
                    p = os.path.join(dirpath, n)
                    out[os.path.relpath(p, root)] = open(p, encoding="utf-8", errors="replace").read()
    return out


def read_list(path):
    entries, errors = {}, []
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 3:
            errors.append("%s:%d: expected `kernel host/file.c function`, got: %s" % (path, n, line))
            continue
        if parts[0] in entries:
            errors.append("%s:%d: %s listed twice" % (path, n, parts[0]))
        entries[parts[0]] = (parts[1], parts[2], n)
    return entries, errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--list", help="the allow-list (default ROOT/tools/loop_kernels.txt)")
    ap.add_argument("--print", action="store_true", help="list every kernel and its first runtime loop")
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    list_path = args.list or os.path.join(root, "tools", "loop_kernels.txt")

    programs, kernels = analyse(root)
    loop_kernels = {k for k, v in kernels.items() if v[1]}
    if args.print:
        for k in sorted(kernels):
            prog, loop, where = kernels[k]
            desc = "loops: %s in %s at %s:%d" % (loop[2], loop[0], loop[1].file, loop[1].line) if loop else "no runtime loop"
            print("%-32s %-24s %-28s %s" % (k, prog, where, desc))
        print("%d kernels, %d loop kernels" % (len(kernels), len(loop_kernels)))

    errors = []
    # every .cl file of the tree is in a program the check reads (else its kernels are unseen)
    listed_files = {f for files in programs.values() for f in files}
    for dirpath, _, names in os.walk(os.path.join(root, "cl")):
        for n in names:
            rel = os.path.relpath(os.path.join(dirpath, n), root)
            if n.endswith(".cl") and rel not in listed_files:
                errors.append("%s: in no program of the build's lists (CMakeLists.txt CLRNN_*CL_SOURCES)" % rel)

    entries, list_errors = read_list(list_path) if os.path.exists(list_path) else ({}, ["%s: missing" % list_path])
    errors += list_errors
    host = Host(root)
    for k in sorted(loop_kernels - set(entries)):
        prog, loop, where = kernels[k]
        errors.append(
            "%s (%s): loops over a runtime size (%s in %s, %s:%d) but is not in %s: declare its loops "
            "(clrnn_karg_loops) at its launch and list it"
            % (k, where, loop[2], loop[0], loop[1].file, loop[1].line, os.path.relpath(list_path, root))
        )
    for k, (hfile, hfunc, n) in sorted(entries.items()):
        at = "%s:%d" % (os.path.relpath(list_path, root), n)
        if k not in kernels:
            errors.append("%s: %s is listed but no program defines that __kernel (stale entry)" % (at, k))
            continue
        if k not in loop_kernels:
            errors.append("%s: %s (%s) is listed but has no runtime-bounded loop (stale entry)" % (at, k, kernels[k][2]))
            continue
        if hfile not in host.funcs:
            errors.append("%s: %s: host file %s does not exist" % (at, k, hfile))
            continue
        if not host.named(k):
            errors.append("%s: %s: no host source names it (CLRNN_K_%s, TK_%s, GLUE_K_%s or \"%s\")" % (at, k, k, k, k, k))
        if hfunc not in host.funcs[hfile]:
            errors.append("%s: %s: %s defines no function %s" % (at, k, hfile, hfunc))
            continue
        if not declares_loops(host.funcs[hfile], hfunc):
            errors.append(
                "%s: %s: %s in %s never calls clrnn_karg_loops (nor sets .loops): the launch declares no loops"
                % (at, k, hfunc, hfile)
            )
        if not host.launches(hfile, hfunc, k):
            errors.append(
                "%s: %s: %s in %s does not pick it (names neither it, nor a function or kernel-table field "
                "that does, nor is called by a function of its file that does): not its launch?" % (at, k, hfunc, hfile)
            )

    if errors:
        print("check_loops: %d problem(s) with the loop-budget declarations:" % len(errors))
        for e in errors:
            print("  " + e)
        return 1
    print("check_loops: %d kernels in %d programs, %d loop kernels, all listed and declared"
          % (len(kernels), len(programs), len(loop_kernels)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
