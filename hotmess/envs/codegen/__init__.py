"""Generated Python functions for the coding families: a library of small function
templates, each with a written specification, a correct implementation, seeded bugs of
named kinds and test cases, plus what turns them into a sandboxed task.

A template draws its constants, separators and names from a `TaskRandom`, so a seed gives
the same functions on any machine. Every seeded bug is verified on the host when the task
is generated: it must fail a case an agent can see (so the task is solvable from what is
shown) and therefore a hidden case too (so no bug is invisible to scoring). Adding,
removing or reordering templates changes the tasks seeds generate: bump the families'
versions when you do.

Modules: `functions` (what a template is and draws), `templates` (the templates, one module
per family), `verify` (bugs checked, functions dealt), `render` (sources, visible tests,
hidden test files and the checks the grader runs), `harness` (the top of every hidden test
file, a real module), `env` (edits, the oracle and the env base CodeFix and CodeBuild share).
"""

from __future__ import annotations

from hotmess.envs.codegen.env import (
    CodeTask,
    EditOracle,
    EditStep,
    GeneratedCodeEnv,
    edit_action,
)
from hotmess.envs.codegen.functions import (
    Case,
    Draft,
    GeneratedFunction,
    Mutation,
    Template,
    code,
    template,
)
from hotmess.envs.codegen.render import (
    HIDDEN_FILE_RUNNER,
    HIDDEN_HEADER,
    hidden_checks,
    hidden_tests,
    import_block,
    render_function,
    visible_test,
)
from hotmess.envs.codegen.templates import TEMPLATES
from hotmess.envs.codegen.verify import (
    TemplateDeck,
    function_name,
    generate_function,
    run_cases,
    same,
    verify,
)

__all__ = [
    "HIDDEN_FILE_RUNNER",
    "HIDDEN_HEADER",
    "TEMPLATES",
    "Case",
    "CodeTask",
    "Draft",
    "EditOracle",
    "EditStep",
    "GeneratedCodeEnv",
    "GeneratedFunction",
    "Mutation",
    "Template",
    "TemplateDeck",
    "code",
    "edit_action",
    "function_name",
    "generate_function",
    "hidden_checks",
    "hidden_tests",
    "import_block",
    "render_function",
    "run_cases",
    "same",
    "template",
    "verify",
    "visible_test",
]
