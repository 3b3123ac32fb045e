"""Combinational templates: arithmetic, comparison, selection, coding, counting and shifting."""

from __future__ import annotations

import random

from verigym.envs.rtl.task import Port
from verigym.envs.rtl.templates import Params, Template, clog2, mask, module, register, width_for


def _i(name: str, width: int) -> Port:
    return Port(name, "input", width)


def _o(name: str, width: int) -> Port:
    return Port(name, "output", width)


def _w(rng: random.Random, difficulty: str) -> Params:
    return {"W": width_for(rng, difficulty)}


def _pow2(rng: random.Random, difficulty: str) -> Params:
    return {"W": {"easy": 4, "medium": rng.choice([4, 8]), "hard": rng.choice([8, 16])}[difficulty]}


def comb(name, params, ports, behaviour, body, model, regs=()):
    """Register a combinational template whose Verilog is `module(ports, body(p))`."""
    return register(Template(
        name, False, params, ports, behaviour,
        lambda p, c: module(ports(p), body(p), regs), model=model,
    ))


# --- arithmetic ---------------------------------------------------------------------------------------------
comb(
    "adder", lambda r, d: {**_w(r, d), "cin": r.random() < 0.5},
    lambda p: [_i("a", p["W"]), _i("b", p["W"])] + ([_i("cin", 1)] if p["cin"] else []) + [_o("sum", p["W"]), _o("cout", 1)],
    lambda p: "Add the unsigned inputs a and b" + (" and the carry-in cin" if p["cin"] else "")
    + "; `sum` is the low bits of the result and `cout` the carry out.",
    lambda p: f"  assign {{cout, sum}} = a + b{' + cin' if p['cin'] else ''};",
    lambda p, x: (lambda t: {"sum": t & mask(p["W"]), "cout": t >> p["W"]})(x["a"] + x["b"] + x.get("cin", 0)),
)
comb(
    "subtractor", _w,
    lambda p: [_i("a", p["W"]), _i("b", p["W"]), _o("diff", p["W"]), _o("borrow", 1)],
    lambda p: "Compute a - b on unsigned inputs: `diff` is (a - b) modulo 2^W and `borrow` is 1 exactly when b > a.",
    lambda p: "  assign diff = a - b;\n  assign borrow = b > a;",
    lambda p, x: {"diff": (x["a"] - x["b"]) & mask(p["W"]), "borrow": int(x["b"] > x["a"])},
)
comb(
    "saturating_adder", _w,
    lambda p: [_i("a", p["W"]), _i("b", p["W"]), _o("y", p["W"])],
    lambda p: "Add the unsigned inputs a and b, saturating: if the true sum does not fit in W bits, y is all ones.",
    lambda p: f"  wire [{p['W']}:0] t = a + b;\n  assign y = t[{p['W']}] ? {{{p['W']}{{1'b1}}}} : t[{p['W'] - 1}:0];",
    lambda p, x: {"y": min(x["a"] + x["b"], mask(p["W"]))},
)
comb(
    "abs_diff", _w,
    lambda p: [_i("a", p["W"]), _i("b", p["W"]), _o("y", p["W"])],
    lambda p: "y is the absolute difference |a - b| of the unsigned inputs a and b.",
    lambda p: "  assign y = (a > b) ? a - b : b - a;",
    lambda p, x: {"y": abs(x["a"] - x["b"])},
)
_ALU_OPS = {"add": ("a + b", lambda a, b: a + b), "sub": ("a - b", lambda a, b: a - b), "and": ("a & b", lambda a, b: a & b),
            "or": ("a | b", lambda a, b: a | b), "xor": ("a ^ b", lambda a, b: a ^ b), "nand": ("~(a & b)", lambda a, b: ~(a & b))}


def _alu_params(rng: random.Random, difficulty: str) -> Params:
    ops = ["add", "sub"] + rng.sample(["and", "or", "xor", "nand"], 2)
    rng.shuffle(ops)
    return {**_w(rng, difficulty), "ops": ops}


def _alu_body(p: Params) -> str:
    cases = "\n".join(f"      2'd{i}: y = {_ALU_OPS[op][0]};" for i, op in enumerate(p["ops"]))
    return f"  always @* begin\n    case (op)\n{cases}\n      default: y = 0;\n    endcase\n  end\n  assign zero = (y == 0);"


def _alu_model(p: Params, x: dict) -> dict:
    y = _ALU_OPS[p["ops"][x["op"]]][1](x["a"], x["b"]) & mask(p["W"])
    return {"y": y, "zero": int(y == 0)}


comb(
    "alu", _alu_params,
    lambda p: [_i("a", p["W"]), _i("b", p["W"]), _i("op", 2), _o("y", p["W"]), _o("zero", 1)],
    lambda p: "A small ALU on W-bit unsigned operands; results wrap modulo 2^W. op selects: "
    + ", ".join(f"{i} -> y = {_ALU_OPS[o][0]}" for i, o in enumerate(p["ops"])) + ". `zero` is 1 exactly when y is 0.",
    _alu_body, _alu_model, regs=("y",),
)

# --- comparison and selection -------------------------------------------------------------------------------
comb(
    "comparator", lambda r, d: {**_w(r, d), "signed": d != "easy" and r.random() < 0.5},
    lambda p: [_i("a", p["W"]), _i("b", p["W"]), _o("eq", 1), _o("lt", 1), _o("gt", 1)],
    lambda p: f"Compare a and b as {'signed two' + chr(39) + 's-complement' if p['signed'] else 'unsigned'} numbers: "
    "eq = (a == b), lt = (a < b), gt = (a > b).",
    lambda p: ("  wire signed [{0}:0] sa = a, sb = b;\n  assign eq = a == b;\n  assign lt = sa < sb;\n  assign gt = sa > sb;"
               .format(p["W"] - 1) if p["signed"] else "  assign eq = a == b;\n  assign lt = a < b;\n  assign gt = a > b;"),
    lambda p, x: (lambda a, b: {"eq": int(a == b), "lt": int(a < b), "gt": int(a > b)})(
        *((_signed(x["a"], p["W"]), _signed(x["b"], p["W"])) if p["signed"] else (x["a"], x["b"]))),
)


def _signed(v: int, w: int) -> int:
    return v - (1 << w) if v >> (w - 1) & 1 else v


comb(
    "max_min", lambda r, d: {**_w(r, d), "mode": r.choice(["max", "min"])},
    lambda p: [_i("a", p["W"]), _i("b", p["W"]), _o("y", p["W"])],
    lambda p: f"y is the {'larger' if p['mode'] == 'max' else 'smaller'} of the unsigned inputs a and b.",
    lambda p: f"  assign y = (a {'>' if p['mode'] == 'max' else '<'} b) ? a : b;",
    lambda p, x: {"y": (max if p["mode"] == "max" else min)(x["a"], x["b"])},
)


def _mux_params(rng: random.Random, difficulty: str) -> Params:
    return {**_w(rng, difficulty), "N": {"easy": 2, "medium": 4, "hard": rng.choice([4, 8])}[difficulty]}


comb(
    "mux", _mux_params,
    lambda p: [_i("sel", clog2(p["N"]))] + [_i(f"d{k}", p["W"]) for k in range(p["N"])] + [_o("y", p["W"])],
    lambda p: f"A {p['N']}-to-1 multiplexer: y = d<sel> (sel = 0 selects d0, ...).",
    lambda p: "  always @* begin\n    case (sel)\n" + "".join(f"      {k}: y = d{k};\n" for k in range(p["N"]))
    + "      default: y = 0;\n    endcase\n  end",
    lambda p, x: {"y": x[f"d{x['sel']}"]}, regs=("y",),
)
comb(
    "demux", _mux_params,
    lambda p: [_i("sel", clog2(p["N"])), _i("d", p["W"])] + [_o(f"y{k}", p["W"]) for k in range(p["N"])],
    lambda p: f"A 1-to-{p['N']} demultiplexer: output y<sel> equals d; every other output is 0.",
    lambda p: "".join(f"  assign y{k} = (sel == {k}) ? d : 0;\n" for k in range(p["N"])),
    lambda p, x: {f"y{k}": x["d"] if x["sel"] == k else 0 for k in range(p["N"])},
)
comb(
    "majority", _w,
    lambda p: [_i("a", p["W"]), _i("b", p["W"]), _i("c", p["W"]), _o("y", p["W"])],
    lambda p: "Bitwise majority vote: each bit of y is 1 when at least two of the same bits of a, b, c are 1.",
    lambda p: "  assign y = (a & b) | (a & c) | (b & c);",
    lambda p, x: {"y": (x["a"] & x["b"]) | (x["a"] & x["c"]) | (x["b"] & x["c"])},
)

# --- coding -------------------------------------------------------------------------------------------------
comb(
    "decoder", lambda r, d: {"N": {"easy": 2, "medium": 3, "hard": 4}[d], "en": r.random() < 0.5},
    lambda p: [_i("a", p["N"])] + ([_i("en", 1)] if p["en"] else []) + [_o("y", 1 << p["N"])],
    lambda p: f"A {p['N']}-to-{1 << p['N']} binary decoder: y is one-hot with bit a set"
    + (" when en is 1, and all zeros when en is 0." if p["en"] else "."),
    lambda p: f"  assign y = {'en ? ' if p['en'] else ''}({1 << p['N']}'d1 << a){' : 0' if p['en'] else ''};",
    lambda p, x: {"y": (1 << x["a"]) if x.get("en", 1) else 0},
)


def _prio(p: Params, x: dict) -> dict:
    req = x["req"]
    if req == 0:
        return {"idx": 0, "valid": 0}
    idx = req.bit_length() - 1 if p["msb"] else (req & -req).bit_length() - 1
    return {"idx": idx, "valid": 1}


comb(
    "priority_encoder", lambda r, d: {**_pow2(r, d), "msb": r.random() < 0.5},
    lambda p: [_i("req", p["W"]), _o("idx", clog2(p["W"])), _o("valid", 1)],
    lambda p: f"A priority encoder: idx is the index of the {'highest' if p['msb'] else 'lowest'}-numbered set bit of req "
    "and valid is 1; when req is 0, valid is 0 and idx is 0.",
    lambda p: "  integer k;\n  always @* begin\n    idx = 0;\n    valid = 0;\n"
    f"    for (k = {'0' if p['msb'] else p['W'] - 1}; k {'<' if p['msb'] else '>='} {p['W'] if p['msb'] else 0}; "
    f"k = k {'+' if p['msb'] else '-'} 1)\n      if (req[k]) begin\n        idx = k;\n        valid = 1;\n      end\n  end",
    _prio, regs=("idx", "valid"),
)
comb(
    "parity", lambda r, d: {**_w(r, d), "odd": r.random() < 0.5},
    lambda p: [_i("d", p["W"]), _o("p", 1)],
    lambda p: "p is the " + ("odd" if p["odd"] else "even") + " parity bit of d: "
    + ("p is 1 when d has an even number of 1 bits (so that d and p together have an odd count)." if p["odd"]
       else "p is 1 when d has an odd number of 1 bits (so that d and p together have an even count)."),
    lambda p: f"  assign p = {'~' if p['odd'] else ''}^d;",
    lambda p, x: {"p": (bin(x["d"]).count("1") + p["odd"]) & 1},
)
comb(
    "popcount", _w,
    lambda p: [_i("d", p["W"]), _o("count", clog2(p["W"] + 1))],
    lambda p: "count is the number of 1 bits in d.",
    lambda p: "  integer k;\n  always @* begin\n    count = 0;\n"
    f"    for (k = 0; k < {p['W']}; k = k + 1)\n      count = count + d[k];\n  end",
    lambda p, x: {"count": bin(x["d"]).count("1")}, regs=("count",),
)
comb(
    "leading_zeros", _pow2,
    lambda p: [_i("d", p["W"]), _o("count", clog2(p["W"] + 1))],
    lambda p: f"count is the number of leading (most significant) zero bits of d; it is {p['W']} when d is 0.",
    lambda p: "  integer k;\n  reg done;\n  always @* begin\n    count = 0;\n    done = 0;\n"
    f"    for (k = {p['W'] - 1}; k >= 0; k = k - 1)\n      if (!done) begin\n        if (d[k]) done = 1;\n"
    "        else count = count + 1;\n      end\n  end",
    lambda p, x: {"count": p["W"] - x["d"].bit_length()}, regs=("count",),
)
comb(
    "bin2gray", _w,
    lambda p: [_i("bin", p["W"]), _o("gray", p["W"])],
    lambda p: "Convert the binary number bin to reflected Gray code: gray = bin ^ (bin >> 1).",
    lambda p: "  assign gray = bin ^ (bin >> 1);",
    lambda p, x: {"gray": x["bin"] ^ (x["bin"] >> 1)},
)


def _gray2bin(p: Params, x: dict) -> dict:
    b, g = 0, x["gray"]
    while g:
        b ^= g
        g >>= 1
    return {"bin": b}


comb(
    "gray2bin", _w,
    lambda p: [_i("gray", p["W"]), _o("bin", p["W"])],
    lambda p: "Convert the reflected Gray code gray back to binary: bin[i] is the XOR of gray[W-1:i].",
    lambda p: f"  genvar k;\n  generate for (k = 0; k < {p['W']}; k = k + 1) begin : g\n"
    f"    assign bin[k] = ^(gray >> k);\n  end endgenerate",
    _gray2bin,
)
comb(
    "bit_reverse", _w,
    lambda p: [_i("d", p["W"]), _o("y", p["W"])],
    lambda p: "y is d with its bit order reversed: y[i] = d[W-1-i].",
    lambda p: f"  genvar k;\n  generate for (k = 0; k < {p['W']}; k = k + 1) begin : g\n"
    f"    assign y[k] = d[{p['W'] - 1} - k];\n  end endgenerate",
    lambda p, x: {"y": int(format(x["d"], f"0{p['W']}b")[::-1], 2)},
)

# --- shifting -----------------------------------------------------------------------------------------------
_SHIFTS = {
    "sll": ("logical left shift", "d << amt"),
    "srl": ("logical right shift", "d >> amt"),
    "sra": ("arithmetic right shift (the sign bit d[W-1] is replicated)", "$signed(d) >>> amt"),
    "rol": ("rotate left", "(d << amt) | (d >> ({W} - amt))"),
    "ror": ("rotate right", "(d >> amt) | (d << ({W} - amt))"),
}


def _shift(p: Params, x: dict) -> dict:
    w, d, s = p["W"], x["d"], x["amt"]
    m = mask(w)
    y = {"sll": lambda: d << s, "srl": lambda: d >> s, "sra": lambda: _signed(d, w) >> s,
         "rol": lambda: (d << s) | (d >> (w - s)), "ror": lambda: (d >> s) | (d << (w - s))}[p["op"]]()
    return {"y": y & m}


comb(
    "barrel_shifter", lambda r, d: {**_pow2(r, d), "op": r.choice(sorted(_SHIFTS))},
    lambda p: [_i("d", p["W"]), _i("amt", clog2(p["W"])), _o("y", p["W"])],
    lambda p: f"y is d after a {_SHIFTS[p['op']][0]} by amt bit positions (0 <= amt < {p['W']}).",
    lambda p: f"  wire [{2 * p['W'] - 1}:0] dd = {{d, d}};\n"
    + (f"  assign y = {_SHIFTS[p['op']][1].format(W=p['W'])};" if p["op"] in ("sll", "srl", "sra") else
       f"  wire [{2 * p['W'] - 1}:0] t = dd {'<<' if p['op'] == 'rol' else '>>'} amt;\n"
       + (f"  assign y = t[{2 * p['W'] - 1}:{p['W']}];" if p["op"] == "rol" else f"  assign y = t[{p['W'] - 1}:0];")),
    _shift,
)
