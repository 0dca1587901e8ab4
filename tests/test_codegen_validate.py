"""Static checks of generated reward programs: every refusal names the line, the construct and why."""

from __future__ import annotations

import pytest

from rewardlab.codegen.prompts import EXAMPLES
from rewardlab.codegen.validate import ValidationError, check_program, extract_code

GOOD = """\
import numpy as np
import math

def helper(v):
    return np.tanh(v / 2.0)

def compute_reward(obs, action, next_obs, terminated):
    speed = next_obs[:, 8]
    effort = -0.1 * np.square(action).sum(axis=-1)
    bonus = np.array([math.sqrt(2.0) for _ in range(len(obs))])
    return {"speed": helper(speed), "effort": effort, "bonus": np.where(terminated, 0.0, bonus)}
"""


def refusal(source: str) -> str:
    with pytest.raises(ValidationError) as info:
        check_program(source)
    return str(info.value)


def test_a_good_program_passes_and_names_its_inputs():
    checked = check_program(GOOD)
    assert checked.fields == ("obs", "action", "next_obs", "terminated")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.env_id)
def test_the_built_in_few_shot_examples_pass(example):
    check_program(example.program)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import os\ndef compute_reward(obs):\n    return {'a': obs[:, 0]}", "line 1: `import os` import os: only"),
        ("import subprocess as sp\ndef compute_reward(obs):\n    return {'a': obs[:, 0]}", "import subprocess"),
        ("from socket import socket\ndef compute_reward(obs):\n    return {'a': obs[:, 0]}", "from socket import"),
        ("def compute_reward(obs):\n    x = ().__class__.__base__.__subclasses__()\n    return {'a': obs[:, 0]}",
         "line 2: `x = ().__class__.__base__.__subclasses__()` attribute .__subclasses__"),
        ("def compute_reward(obs):\n    g = compute_reward.__globals__\n    return {'a': obs[:, 0]}",
         "attribute .__globals__: underscore attributes"),
        ("def compute_reward(obs):\n    b = __builtins__\n    return {'a': obs[:, 0]}",
         "line 2: `b = __builtins__` name __builtins__: double-underscore"),
        ("def compute_reward(obs):\n    f = open('/etc/passwd')\n    return {'a': obs[:, 0]}",
         "`open`: file access is not allowed"),
        ("def compute_reward(obs):\n    eval('1')\n    return {'a': obs[:, 0]}", "`eval`: running code from strings"),
        ("def compute_reward(obs):\n    g = getattr(obs, 'x')\n    return {'a': obs[:, 0]}", "`getattr`"),
        ("import numpy as np\ndef compute_reward(obs):\n    np.save('x', obs)\n    return {'a': obs[:, 0]}",
         "attribute .save: file access"),
        ("import numpy as np\ndef compute_reward(obs):\n    return {'a': np.random.rand(len(obs))}",
         "random numbers are not allowed"),
        ("import numpy as np\ndef compute_reward(obs):\n    return {'a': np.ctypeslib.as_array(obs)}",
         "attribute .ctypeslib"),
        ("from typing import sys\ndef compute_reward(obs):\n    return {'a': obs[:, 0]}", "typing.sys: submodules"),
        ("def compute_reward(obs):\n    try:\n        x = 1\n    except Exception:\n        x = 2\n    return {'a': x}",
         "line 2: `try:` try: try/except is not allowed"),
        ("class R:\n    pass\ndef compute_reward(obs):\n    return {'a': obs[:, 0]}", "classdef: class definitions"),
        ("def compute_reward(obs):\n    with x:\n        pass\n    return {'a': obs[:, 0]}", "with-blocks"),
        ("def compute_reward(obs):\n    global y\n    return {'a': obs[:, 0]}", "global state"),
        ("def compute_reward(obs):\n    yield {'a': obs[:, 0]}", "generators are not allowed"),
        ("def compute_reward(state):\n    return {'a': state[:, 0]}", "parameter 'state' is not an input"),
        ("def compute_reward(*args):\n    return {'a': 1.0}", "no *args"),
        ("def reward(obs):\n    return {'a': obs[:, 0]}", "no top-level function `def compute_reward"),
        ("def compute_reward(obs):\n    x = obs[:, 0]", "never returns"),
        ("import numpy as np\ndef compute_reward(obs):\n    return {'a': np.sqr(obs[:, 0])}",
         "numpy.sqr: numpy has no attribute 'sqr'"),
        ("def compute_reward(obs):\n    return {'a': velocity}", "`velocity`: is not defined"),
        ("def compute_reward(obs)\n    return {'a': 1.0}", "line 1: `def compute_reward(obs)` syntax"),
    ],
)  # fmt: skip
def test_refusals_name_line_construct_and_reason(source, expected):
    assert expected in refusal(source)


def test_every_problem_is_listed_in_line_order():
    text = refusal("import os\ndef compute_reward(obs):\n    open('x')\n    return {'a': obs.__class__}")
    lines = text.splitlines()
    assert [line.split(":")[0] for line in lines] == ["line 1", "line 3", "line 4"]


def test_huge_programs_are_refused():
    assert "at most" in refusal("x = 1\n" * 5000 + "def compute_reward(obs):\n    return {'a': obs[:, 0]}")


def test_extract_code_takes_the_block_that_defines_the_function():
    answer = (
        "First a sketch:\n```python\nx = 1\n```\nNow the reward:\n```python\n"
        "def compute_reward(obs):\n    return {'a': obs[:, 0]}\n```\nand a test:\n```python\nprint(1)\n```"
    )
    assert extract_code(answer).startswith("def compute_reward(obs):")
    assert extract_code("def compute_reward(obs):\n    return {'a': obs[:, 0]}").startswith("def compute_reward")
    with pytest.raises(ValidationError, match="no ```python code block"):
        extract_code("I cannot help with that.")
