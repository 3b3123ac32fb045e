"""Sequential templates: counters, shift registers, edge detectors, FSMs, a FIFO, a clock divider, an LFSR.

The state of each model is a tuple; outputs are the values visible before the rising edge of a cycle.
"""

from __future__ import annotations

import random

from verigym.envs.rtl.task import Clocking, Port
from verigym.envs.rtl.templates import Params, Template, clock_ports, clog2, ff, mask, module, register, width_for


def _i(name: str, width: int = 1) -> Port:
    return Port(name, "input", width)


def _o(name: str, width: int = 1) -> Port:
    return Port(name, "output", width)


def seq(name, params, ports, behaviour, body, reset_state, step, regs=(), mutant_body=None, bias=None, formal_bound=20):
    """Register a sequential template whose Verilog is `module(clock ports + ports(p), body(p, clocking))`."""
    def verilog(p: Params, c: Clocking) -> str:
        return module(clock_ports(c) + ports(p), body(p, c), regs)

    def mutant(p: Params, c: Clocking) -> str:
        return module(clock_ports(c) + ports(p), mutant_body(p, c), regs)

    return register(Template(name, True, params, ports, behaviour, verilog, reset_state=reset_state, step=step,
                             mutant=mutant if mutant_body else None, bias=bias, formal_bound=formal_bound))


def _clocked(c: Clocking, reset: str, update: str) -> str:
    sense, cond = ff(c)
    return f"  always @({sense}) begin\n    if ({cond}) begin\n{reset}\n    end else begin\n{update}\n    end\n  end"


# --- counters -----------------------------------------------------------------------------------------------
def _counter_params(rng: random.Random, difficulty: str) -> Params:
    w = width_for(rng, difficulty) if difficulty != "hard" else rng.randint(5, 8)
    return {"W": w, "M": rng.randint(2, min(mask(w), 150))}


def _counter_body(delta: int):
    def body(p: Params, c: Clocking) -> str:
        return _clocked(c, "      q <= 0;", f"      if (en) q <= (q == {p['M'] - 1 + delta}) ? 0 : q + 1;")
    return body


seq(
    "counter", _counter_params,
    lambda p: [_i("en"), _o("q", p["W"])],
    lambda p: f"A modulo-{p['M']} up counter: when en is 1, q counts up by one per cycle and wraps from {p['M'] - 1} "
    "to 0; when en is 0, q holds. Reset sets q to 0.",
    _counter_body(0), lambda p: (0,),
    lambda p, s, x: ({"q": s[0]}, ((s[0] + 1) % p["M"] if x["en"] else s[0],)),
    regs=("q",), mutant_body=_counter_body(1), bias=lambda p: {"en": 0.9},
)


def _updown_body(delta: int):
    def body(p: Params, c: Clocking) -> str:
        top = p["M"] - 1 + delta
        return _clocked(c, "      q <= 0;", f"      if (en) begin\n        if (up) q <= (q == {top}) ? 0 : q + 1;\n"
                        f"        else q <= (q == 0) ? {top} : q - 1;\n      end")
    return body


seq(
    "updown_counter", _counter_params,
    lambda p: [_i("en"), _i("up"), _o("q", p["W"])],
    lambda p: f"A modulo-{p['M']} up/down counter: when en is 1, q moves one step per cycle, up when up is 1 (wrapping "
    f"from {p['M'] - 1} to 0) and down when up is 0 (wrapping from 0 to {p['M'] - 1}); when en is 0, q holds. "
    "Reset sets q to 0.",
    _updown_body(0), lambda p: (0,),
    lambda p, s, x: ({"q": s[0]}, (((s[0] + (1 if x["up"] else -1)) % p["M"]) if x["en"] else s[0],)),
    regs=("q",), mutant_body=_updown_body(1), bias=lambda p: {"en": 0.9, "up": 0.7},
)
seq(
    "load_counter", lambda r, d: {"W": width_for(r, d)},
    lambda p: [_i("load"), _i("d", p["W"]), _i("en"), _o("q", p["W"])],
    lambda p: "A loadable up counter: when load is 1, q takes d (load has priority); otherwise, when en is 1, q counts "
    f"up by one, wrapping modulo 2^{p['W']}; otherwise q holds. Reset sets q to 0.",
    lambda p, c: _clocked(c, "      q <= 0;", "      if (load) q <= d;\n      else if (en) q <= q + 1;"),
    lambda p: (0,),
    lambda p, s, x: ({"q": s[0]}, (x["d"] if x["load"] else (s[0] + 1) & mask(p["W"]) if x["en"] else s[0],)),
    regs=("q",), bias=lambda p: {"load": 0.1, "en": 0.8},
)
seq(
    "accumulator", lambda r, d: {"W": width_for(r, d)},
    lambda p: [_i("en"), _i("d", p["W"]), _o("acc", p["W"])],
    lambda p: f"An accumulator: when en is 1, acc becomes (acc + d) modulo 2^{p['W']}; otherwise it holds. "
    "Reset sets acc to 0.",
    lambda p, c: _clocked(c, "      acc <= 0;", "      if (en) acc <= acc + d;"),
    lambda p: (0,),
    lambda p, s, x: ({"acc": s[0]}, ((s[0] + x["d"]) & mask(p["W"]) if x["en"] else s[0],)),
    regs=("acc",),
)

# --- shift registers and edges ------------------------------------------------------------------------------
seq(
    "shift_register", lambda r, d: {"W": width_for(r, d), "left": r.random() < 0.5},
    lambda p: [_i("en"), _i("sin"), _o("q", p["W"])],
    lambda p: "A serial-in, parallel-out shift register: when en is 1, q shifts "
    + ("left by one and sin enters at q[0]" if p["left"] else f"right by one and sin enters at q[{p['W'] - 1}]")
    + "; otherwise q holds. Reset sets q to 0.",
    lambda p, c: _clocked(c, "      q <= 0;", "      if (en) q <= " + (
        f"{{q[{p['W'] - 2}:0], sin}};" if p["left"] and p["W"] > 1 else f"{{sin, q[{p['W'] - 1}:1]}};")),
    lambda p: (0,),
    lambda p, s, x: ({"q": s[0]}, ((((s[0] << 1) | x["sin"]) & mask(p["W"]) if p["left"]
                                    else (s[0] >> 1) | (x["sin"] << (p["W"] - 1))) if x["en"] else s[0],)),
    regs=("q",), bias=lambda p: {"en": 0.8},
)
_EDGE = {"rise": ("rises from 0 to 1", "d & ~prev"), "fall": ("falls from 1 to 0", "~d & prev"),
         "both": ("changes value", "d ^ prev")}


def _edge(p: Params, s: tuple, x: dict) -> tuple:
    d, prev = x["d"], s[0]
    pulse = {"rise": d & ~prev, "fall": ~d & prev, "both": d ^ prev}[p["kind"]] & mask(p["W"])
    return {"pulse": pulse}, (d,)


seq(
    "edge_detector", lambda r, d: {"W": {"easy": 1, "medium": r.randint(1, 4), "hard": r.randint(4, 8)}[d],
                                   "kind": r.choice(sorted(_EDGE))},
    lambda p: [_i("d", p["W"]), _o("pulse", p["W"])],
    lambda p: f"An edge detector: a register prev holds d as sampled at the previous rising edge (0 after reset). "
    f"pulse[i] is 1 (combinationally, in the same cycle) when d[i] {_EDGE[p['kind']][0]} relative to prev[i]: "
    f"pulse = {_EDGE[p['kind']][1]}.",
    lambda p, c: f"  reg [{p['W'] - 1}:0] prev;\n" + _clocked(c, "      prev <= 0;", "      prev <= d;")
    + f"\n  assign pulse = {_EDGE[p['kind']][1]};",
    lambda p: (0,), _edge,
)


# --- finite-state machines ----------------------------------------------------------------------------------
def _detector_params(rng: random.Random, difficulty: str) -> Params:
    n = {"easy": 3, "medium": 4, "hard": rng.randint(5, 6)}[difficulty]
    return {"L": n, "pattern": format(rng.getrandbits(n), f"0{n}b")}


def _detector_step(p: Params, s: tuple, x: dict) -> tuple:
    hist, count = s
    match = int(count == p["L"] and hist == int(p["pattern"], 2))
    return {"match": match}, (((hist << 1) | x["din"]) & mask(p["L"]), min(count + 1, p["L"]))


seq(
    "sequence_detector", _detector_params,
    lambda p: [_i("din"), _o("match")],
    lambda p: f"A sequence detector for the bit pattern {p['pattern']} (first bit first) on din, sampled at each rising "
    f"edge. match is 1 during the cycle right after the edge at which the last {p['L']} sampled bits equal the "
    "pattern (overlapping matches count); bits sampled before the last reset never count. match depends only on "
    "the state (Moore).",
    lambda p, c: f"  reg [{p['L'] - 1}:0] hist;\n  reg [{clog2(p['L'] + 1) - 1}:0] count;\n"
    + _clocked(c, "      hist <= 0;\n      count <= 0;",
               f"      hist <= {{hist[{p['L'] - 2}:0], din}};\n      if (count != {p['L']}) count <= count + 1;")
    + f"\n  assign match = (count == {p['L']}) && (hist == {p['L']}'b{p['pattern']});",
    lambda p: (0, 0), _detector_step,
)


def _traffic_params(rng: random.Random, difficulty: str) -> Params:
    top = {"easy": 4, "medium": 8, "hard": 16}[difficulty]
    return {"G": rng.randint(2, top), "Y": rng.randint(1, 3), "R": rng.randint(2, top)}


def _traffic_step(p: Params, s: tuple, x: dict) -> tuple:
    phase, timer = s
    outs = {"green": int(phase == 0), "yellow": int(phase == 1), "red": int(phase == 2)}
    if x["stop"] and phase == 0:
        return outs, (1, 0)
    if timer == (p["G"], p["Y"], p["R"])[phase] - 1:
        return outs, ((phase + 1) % 3, 0)
    return outs, (phase, timer + 1)


def _traffic_body(delta: int):
    def body(p: Params, c: Clocking) -> str:
        tw = clog2(max(p["G"] + delta, p["Y"], p["R"]) + 1)
        reset = "      phase <= 0;\n      timer <= 0;"
        update = (f"      if (stop && phase == 0) begin\n        phase <= 1;\n        timer <= 0;\n      end\n"
                  f"      else if (timer == ((phase == 0) ? {p['G'] - 1 + delta} : (phase == 1) ? {p['Y'] - 1} : {p['R'] - 1})) begin\n"
                  "        phase <= (phase == 2) ? 0 : phase + 1;\n        timer <= 0;\n      end\n"
                  "      else timer <= timer + 1;")
        return (f"  reg [1:0] phase;\n  reg [{tw - 1}:0] timer;\n" + _clocked(c, reset, update)
                + "\n  assign green = (phase == 0);\n  assign yellow = (phase == 1);\n  assign red = (phase == 2);")
    return body


seq(
    "traffic_light", _traffic_params,
    lambda p: [_i("stop"), _o("green"), _o("yellow"), _o("red")],
    lambda p: f"A traffic-light controller cycling green -> yellow -> red -> green. Exactly one light is on. Green "
    f"lasts {p['G']} cycles, yellow {p['Y']}, red {p['R']} (a phase of n cycles shows its light during n consecutive "
    "cycles). If stop is 1 during a green cycle, the next cycle is the first yellow cycle. Reset starts the first "
    "green cycle.",
    _traffic_body(0), lambda p: (0, 0), _traffic_step, mutant_body=_traffic_body(1), bias=lambda p: {"stop": 0.05},
)


def _divider_body(delta: int):
    def body(p: Params, c: Clocking) -> str:
        return (f"  reg [{clog2(p['N'] + 1) - 1}:0] count;\n"
                + _clocked(c, "      count <= 0;\n      clk_out <= 0;",
                           f"      if (count == {p['N'] - 1 + delta}) begin\n        count <= 0;\n"
                           "        clk_out <= ~clk_out;\n      end else count <= count + 1;"))
    return body


seq(
    "clock_divider", lambda r, d: {"N": {"easy": r.randint(1, 3), "medium": r.randint(2, 8), "hard": r.randint(5, 20)}[d]},
    lambda p: [_o("clk_out")],
    lambda p: f"A clock divider by {2 * p['N']}: clk_out is 0 after reset and toggles every {p['N']} rising edges of the "
    f"clock (it stays 0 for {p['N']} cycles, then 1 for {p['N']} cycles, and so on).",
    _divider_body(0), lambda p: (0, 0),
    lambda p, s, x: ({"clk_out": s[1]}, (0, 1 - s[1]) if s[0] == p["N"] - 1 else (s[0] + 1, s[1])),
    regs=("clk_out",), mutant_body=_divider_body(1),
)
_TAPS = {4: (4, 3), 5: (5, 3), 6: (6, 5), 7: (7, 6), 8: (8, 6, 5, 4), 9: (9, 5), 10: (10, 7), 11: (11, 9),
         12: (12, 11, 10, 4), 13: (13, 12, 11, 8), 14: (14, 13, 12, 2), 15: (15, 14), 16: (16, 15, 13, 4)}


def _lfsr_params(rng: random.Random, difficulty: str) -> Params:
    w = {"easy": rng.randint(4, 5), "medium": rng.randint(6, 10), "hard": rng.randint(11, 16)}[difficulty]
    return {"W": w, "seed": rng.randint(1, mask(w))}


def _lfsr_step(p: Params, s: tuple, x: dict) -> tuple:
    q = s[0]
    fb = 0
    for t in _TAPS[p["W"]]:
        fb ^= (q >> (t - 1)) & 1
    return {"q": q}, ((((q << 1) | fb) & mask(p["W"])) if x["en"] else q,)


seq(
    "lfsr", _lfsr_params,
    lambda p: [_i("en"), _o("q", p["W"])],
    lambda p: f"A {p['W']}-bit Fibonacci LFSR: when en is 1, q shifts left by one and the new q[0] is the XOR of the bits "
    + ", ".join(f"q[{t - 1}]" for t in _TAPS[p["W"]]) + " (taken before the shift); when en is 0, q holds. "
    f"Reset sets q to {p['W']}'b{p['seed']:0{p['W']}b}.",
    lambda p, c: _clocked(c, f"      q <= {p['W']}'d{p['seed']};", "      if (en) q <= {q[" + str(p["W"] - 2) + ":0], "
                          + " ^ ".join(f"q[{t - 1}]" for t in _TAPS[p["W"]]) + "};"),
    lambda p: (p["seed"],), _lfsr_step, regs=("q",), bias=lambda p: {"en": 0.8},
)


# --- FIFO ---------------------------------------------------------------------------------------------------
def _fifo_params(rng: random.Random, difficulty: str) -> Params:
    return {"D": {"easy": 2, "medium": 4, "hard": rng.choice([4, 8])}[difficulty], "W": width_for(rng, difficulty)}


def _fifo_step(p: Params, s: tuple, x: dict) -> tuple:
    items = list(s)
    outs = {"dout": items[0] if items else 0, "empty": int(not items), "full": int(len(items) == p["D"]),
            "count": len(items)}
    pop, push = x["pop"] and items, x["push"] and len(items) < p["D"]
    if pop:
        items.pop(0)
    if push:
        items.append(x["din"])
    return outs, tuple(items)


def _fifo_body(p: Params, c: Clocking) -> str:
    a = clog2(p["D"])
    return (f"  reg [{p['W'] - 1}:0] mem [0:{p['D'] - 1}];\n  reg [{a - 1}:0] rd, wr;\n"
            f"  wire do_pop = pop && count != 0;\n  wire do_push = push && count != {p['D']};\n"
            + _clocked(c, "      rd <= 0;\n      wr <= 0;\n      count <= 0;",
                       "      if (do_push) begin\n        mem[wr] <= din;\n        wr <= wr + 1;\n      end\n"
                       "      if (do_pop) rd <= rd + 1;\n      count <= count + do_push - do_pop;")
            + f"\n  assign dout = (count == 0) ? 0 : mem[rd];\n  assign empty = (count == 0);\n"
            f"  assign full = (count == {p['D']});")


seq(
    "fifo", _fifo_params,
    lambda p: [_i("push"), _i("pop"), _i("din", p["W"]), _o("dout", p["W"]), _o("full"), _o("empty"),
               _o("count", clog2(p["D"] + 1))],
    lambda p: f"A synchronous FIFO of depth {p['D']}. dout shows the oldest stored item (0 when empty); count is the "
    "number of stored items, empty = (count == 0), full = (count == " + str(p["D"]) + "). At a rising edge, pop removes "
    "the oldest item if the FIFO is not empty and push stores din if the FIFO is not full (both judged on the state "
    "before the edge; a push into a full FIFO is ignored even if pop is also 1). Reset empties the FIFO.",
    _fifo_body, lambda p: (), _fifo_step, regs=("count",), formal_bound=8,
)
