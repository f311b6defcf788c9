"""Shared pieces of the `carepath` command line: the group, output, options, error handling."""
from __future__ import annotations

import functools
import json
import sys
from dataclasses import asdict, is_dataclass
from datetime import datetime

import click

from ..errors import CarePathError, PathwayInvalid
from ..escalation.policy import PolicyError
from ..settings import SettingsError, load_settings, parse_instant


class State:
    def __init__(self):
        self._ctx = None

    def context(self, now: str | None = None):
        from ..context import EngineContext
        if self._ctx is None:
            self._ctx = EngineContext(load_settings())
        if now:
            return self._ctx.at(parse_instant(now, self._ctx.settings.timezone, "--now"))
        return self._ctx


def _jsonable(value, tz):
    if isinstance(value, datetime):
        return value.astimezone(tz).isoformat()
    if is_dataclass(value):
        return _jsonable(asdict(value), tz)
    if isinstance(value, dict):
        return {k: _jsonable(v, tz) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, tz) for v in value]
    return value


def emit(ctx, value, as_json: bool, human=None) -> None:
    data = _jsonable(value, ctx.settings.timezone)
    if as_json or human is None:
        click.echo(json.dumps(data, ensure_ascii=False, indent=None if as_json else 2))
    else:
        human(data)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="机器可读的 JSON 输出")(f)


def now_option(f):
    return click.option("--now", envvar="CAREPATH_NOW", default=None,
                        help="引擎时钟 (ISO 8601)；默认当前时间")(f)


def _parse_data(text: str | None):
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise click.BadParameter(f"不是有效的 JSON: {err.msg} (第 {err.pos + 1} 个字符)",
                                 param_hint="--data") from err


def handled(f):
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except PathwayInvalid as err:
            for problem in err.problems:
                click.echo(str(problem), err=True)
            click.echo(f"错误: {err.message}", err=True)
            sys.exit(1)
        except CarePathError as err:
            click.echo(f"错误[{err.code}]: {err.message}", err=True)
            sys.exit(1)
        except (SettingsError, PolicyError) as err:
            click.echo(f"配置错误: {err}", err=True)
            sys.exit(2)
    return wrapper


@click.group()
@click.pass_context
def cli(click_ctx):
    """CarePath：跨部门心理健康服务路径引擎。"""
    from ..store.audit import ORIGIN
    ORIGIN.set("cli")
    click_ctx.obj = State()




def warn_next_year(ctx) -> None:
    from ..calendars import next_year_warning
    warning = next_year_warning(ctx)
    if warning:
        click.echo(f"警告: {warning}", err=True)
