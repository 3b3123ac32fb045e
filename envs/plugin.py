"""Built-in environments, registered through the same hook a third-party plugin uses."""

from verigym.plugins.hookspecs import hookimpl
from verigym.plugins.specs import EnvSpec


@hookimpl
def verigym_envs() -> list[EnvSpec]:
    return [
        EnvSpec("copy-digits-v0", "verigym.envs.copy_digits.env:CopyDigitsEnv", "copy a short digit string (learnable by a tiny model)"),
        EnvSpec("beam-statics-v0", "verigym.envs.beam_statics.env:BeamStaticsEnv", "support reactions of loaded beams, exact in P and L"),
        EnvSpec("diagnosis-v0", "verigym.envs.diagnosis.env:DiagnosisEnv", "clinical diagnosis in a knowledge-base clinic, graded by ICD-10 code"),
        EnvSpec("rtl-verilog-v0", "verigym.envs.rtl.env:RtlEnv", "Verilog from a spec, graded by simulation, yosys equivalence and synthesis"),
        EnvSpec("web-shop-v0", "verigym.envs.web.env:WebShopEnv", "buy, look up and change things on a local web shop (text or Chromium)"),
        EnvSpec("web-forum-v0", "verigym.envs.web.env:WebForumEnv", "post, moderate, administer and look up on a local forum (text or Chromium)"),
        EnvSpec("sql-v0", "verigym.envs.sql.env:SqlEnv", "text-to-SQL on generated SQLite databases, verified on hidden variants", extra="sql"),
        EnvSpec("triton-kernels-v0", "verigym.envs.kernels.env:KernelsEnv", "Triton kernels for PyTorch modules: correct on CPU (interpreter), fast on GPU", extra="kernels"),
        EnvSpec("code-python-v0", "verigym.envs.code_python.env:CodePythonEnv", "write a Python function; sandboxed run tool, graded on hidden tests"),
    ]
