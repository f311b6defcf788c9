"""`carepath init`, `directory`, `pathway` and `demo`: setting a deployment up."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict

import click

from ..settings import SettingsError, load_settings
from .common import cli, emit, handled, json_option, now_option


@cli.command()
@json_option
@click.pass_obj
@handled
def init(state, as_json):
    """创建或升级数据库结构（可重复执行）。"""
    ctx = state.context()
    version = ctx.db.create_schema()
    emit(ctx, {"schema_version": version, "database": ctx.db.dialect}, as_json,
         lambda d: click.echo(f"数据库结构 v{d['schema_version']} 已就绪 ({d['database']})"))


@cli.group()
def directory():
    """机构、角色与用户。"""


@directory.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@json_option
@click.pass_obj
@handled
def directory_load(state, file, as_json):
    """从 YAML 文件导入机构、角色与用户（幂等）。"""
    from ..directory import DirectoryError, load_directory
    ctx = state.context()
    try:
        report = load_directory(ctx.db, file)
    except DirectoryError as err:
        click.echo(f"错误: {err}", err=True)
        sys.exit(1)
    emit(ctx, report, as_json, lambda d: click.echo(
        f"已导入 {d['roles']} 个角色, {d['org_units']} 个机构, {d['users']} 个用户, {d['memberships']} 个任职"))


@cli.group()
def pathway():
    """服务路径（BPMN）：校验、部署、列表。"""


@pathway.command("validate")
@click.argument("files", nargs=-1, required=True)
@json_option
@click.pass_obj
def pathway_validate(state, files, as_json):
    """校验 BPMN 文件（连同同目录的 DMN 决策表和所引用的表单）；每个问题一行：文件:行: 元素: 说明。"""
    from ..bpmn.validate import read_decisions_beside, validate_file
    try:
        settings = load_settings()
    except SettingsError as err:
        click.echo(f"配置错误: {err}", err=True)
        sys.exit(2)
    from ..pathways import processes_in, validation_context
    roles, deployed = validation_context(state.context())
    known = (deployed or set()) | processes_in(files, settings.max_bpmn_bytes)   # files validated together may call each other
    problems, beside = [], {}
    for file in files:
        folder = os.path.dirname(os.path.realpath(file))
        if folder not in beside:          # the decision tables of a folder: read and checked once
            beside[folder] = read_decisions_beside(file, settings.max_bpmn_bytes)
            shown = beside[folder]
        else:
            shown = (beside[folder][0], [])
        problems += validate_file(file, roles, known, settings.max_bpmn_bytes, settings.forms_dir, shown)
    if as_json:
        click.echo(json.dumps([asdict(p) for p in problems], ensure_ascii=False))
    else:
        for problem in problems:
            click.echo(str(problem))
        if not problems:
            click.echo(f"{len(files)} 个文件校验通过")
    sys.exit(1 if problems else 0)


@pathway.command("deploy")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--comment", default=None, help="版本说明")
@click.option("--user", "actor", default=None, help="部署人")
@now_option
@json_option
@click.pass_obj
@handled
def pathway_deploy(state, files, comment, actor, now, as_json):
    """校验并部署 BPMN 文件；内容未变化时不产生新版本。"""
    from ..pathways import deploy_files
    ctx = state.context(now)
    results = deploy_files(ctx, list(files), comment=comment, actor=actor)
    emit(ctx, results, as_json, lambda rows: [click.echo(
        f"{r['process_id']} v{r['version']} {'已部署' if r['changed'] else '未变化'}") for r in rows])


@pathway.command("list")
@json_option
@click.pass_obj
@handled
def pathway_list(state, as_json):
    """已部署的路径及其最新版本。"""
    from ..store import pathways as repo
    ctx = state.context()
    with ctx.db.unit_of_work() as session:
        counts = repo.running_counts(session)
        rows = [{"process_id": v.process_id, "name": v.name, "version": v.version,
                 "version_id": v.id, "deployed_at": v.deployed_at, "message_starts": v.message_starts,
                 "running_instances": counts.get(v.id, 0)} for v in repo.latest_versions(session)]
    emit(ctx, rows, as_json, lambda rs: [click.echo(
        f"{r['process_id']}\tv{r['version']}\t{r['name'] or ''}") for r in rs])


def print_demo(report):
    if report["skipped"]:
        click.echo("演示数据已存在：仅更新了机构、用户和路径。")
    else:
        click.echo(f"演示数据已载入：{report['users']} 个用户，{len(report['pathways'])} 条路径，"
                   f"{report['people']} 名服务对象，{report['instances']} 个实例，"
                   f"{report['open_tasks']} 个待办任务，{report['escalations']} 条督办。")
    from ..demo import PASSWORD
    click.echo(f"所有演示用户的密码: {PASSWORD}")


@cli.command()
@click.option("--pathways", "pathways_dir", default="pathways", show_default=True,
              type=click.Path(exists=True, file_okay=False), help="路径 (BPMN) 目录")
@now_option
@json_option
@click.pass_obj
@handled
def demo(state, pathways_dir, now, as_json):
    """载入演示数据：演示区域与各角色用户、部署 pathways/、一批处于不同阶段的服务对象（含超期）。"""
    from pathlib import Path
    from ..demo import load_demo
    ctx = state.context(now)
    report = load_demo(ctx, Path(pathways_dir))
    emit(ctx, asdict(report), as_json, print_demo)
