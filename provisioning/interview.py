"""Asking the technician `init`'s questions at the terminal, or taking the answers from options.

An answer given as an option is checked like a typed one; a wrong one stops the command with
the reason (a script must not be asked). A typed answer that fails its check is asked again
with the reason, and with the corrected answer offered when there is one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from provisioning.answers import Accepted, AnswerError
from provisioning.questions import Answers, Here, Question

MAX_TRIES = 10  # a terminal left alone does not ask forever


def question_options(questions: list[Question]) -> Callable[[Callable[..., Any]], Any]:
    """A click decorator adding one option per question (value None: ask)."""

    def decorate(command: Callable[..., Any]) -> Any:
        for question in reversed(questions):
            command = click.option(question.option, question.key, default=None, help=question.help)(
                command
            )
        return command

    return decorate


def interview(
    questions: list[Question], given: dict[str, str | None], here: Here, *, ask: bool
) -> Answers:
    """Every answer that applies, from *given* or asked (when *ask*), each checked."""
    answers: Answers = {}
    for question in questions:
        value = given.get(question.key)
        if not question.applies(answers):
            if value is not None:
                raise click.UsageError(f"{question.option} does not apply here ({_which(answers)})")
            continue
        if value is not None:
            answers[question.key] = _from_option(question, value, answers, here).value
        elif not ask:
            raise click.UsageError(f"{question.option} is needed with --no-input ({question.help})")
        else:
            answers[question.key] = _asked(question, answers, here)
    return answers


def _which(answers: Answers) -> str:
    return f"mode {answers.get('mode', '?')}"


def _from_option(question: Question, value: str, answers: Answers, here: Here) -> Accepted:
    try:
        accepted = question.check(value, answers, here)
    except AnswerError as exc:
        hint = f"; did you mean {exc.suggestion}?" if exc.suggestion else ""
        raise click.BadParameter(f"{exc}{hint}", param_hint=question.option) from exc
    if accepted.caution:
        click.echo(f"warning: {question.option}: {accepted.caution}", err=True)
    return accepted


def _asked(question: Question, answers: Answers, here: Here) -> str:
    offer = question.offer(answers, here)
    for line in offer.lines:
        click.echo(line)
    for _ in range(MAX_TRIES):
        text = click.prompt(
            question.prompt,
            default=offer.default,
            hide_input=question.secret,
            show_default=offer.default is not None,
        )
        try:
            accepted = question.check(text, answers, here)
        except AnswerError as exc:
            click.echo(f"  not accepted: {exc}")
            if exc.suggestion and click.confirm(f"  use {exc.suggestion} instead?", default=True):
                corrected = _kept(question, exc.suggestion, answers, here)
                if corrected is None:
                    continue
                return corrected.value
            continue
        if accepted.caution and not click.confirm(f"  {accepted.caution}; keep it?", default=False):
            continue
        return accepted.value
    raise click.ClickException(f"no usable answer to {question.prompt!r} after {MAX_TRIES} tries")


def _kept(question: Question, text: str, answers: Answers, here: Here) -> Accepted | None:
    """The corrected answer, checked again (it may fail another rule)."""
    try:
        return question.check(text, answers, here)
    except AnswerError as exc:
        click.echo(f"  not accepted either: {exc}")
        return None
