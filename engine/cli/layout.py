"""`carepath pathway layout`: draw a clean diagram (BPMN DI) into BPMN files written without one."""
from __future__ import annotations

import os
import sys
import tempfile

import click

from ..settings import SettingsError, load_settings
from .setup import pathway


def _read(path: str, max_bytes: int) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(max_bytes + 1)     # one byte more: parse_xml refuses it by size


def _write_atomically(path: str, data: bytes) -> None:
    directory, name = os.path.split(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, os.stat(path).st_mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


@pathway.command("layout")
@click.argument("files", nargs=-1, required=True)
@click.option("--check", is_flag=True,
              help="只检查不写入：有文件缺少图形信息 (DI) 或不完整时退出码为 1")
def pathway_layout(files, check):
    """为 BPMN 文件自动生成图形布局 (BPMN DI)，原地改写；语义部分保持不变。

    每个流程节点、泳道、池都有图形，每条顺序流都有连线后，文件可在 bpmn-js 与 Camunda Modeler
    中正常打开。--check 只列出图形信息缺失或不完整的文件。
    """
    from ..bpmn.layout import di_gaps, layout_document
    from ..bpmn.xmlsafe import UnsafeXmlError
    try:
        max_bytes = load_settings().max_bpmn_bytes
    except SettingsError as err:
        click.echo(f"配置错误: {err}", err=True)
        sys.exit(2)
    failed = incomplete = 0
    for file in files:
        try:
            data = _read(file, max_bytes)
            if check:
                gaps = di_gaps(data, file, max_bytes)
                if gaps:
                    incomplete += 1
                    shown = "; ".join(gaps[:5]) + (f"; …（共 {len(gaps)} 处）" if len(gaps) > 5 else "")
                    click.echo(f"{file}: 图形信息缺失或不完整 (DI missing or incomplete): {shown}")
                continue
            result = layout_document(data, file, max_bytes)
            for warning in result.warnings:
                click.echo(f"{file}: 警告: {warning}", err=True)
            if result.data == data:
                click.echo(f"{file}: 布局未变化 (unchanged)")
                continue
            _write_atomically(file, result.data)
            click.echo(f"{file}: 已生成布局 (layout written): {result.diagrams} 张图, "
                       f"{result.shapes} 个图形, {result.edges} 条连线")
        except UnsafeXmlError as err:
            failed += 1
            click.echo(f"{file}:{err.line or 0}: {err.message}", err=True)
        except OSError as err:
            failed += 1
            click.echo(f"{file}:0: 无法读写文件 (cannot read or write): {err.strerror}", err=True)
    if check and not failed:
        if incomplete:
            click.echo(f"{incomplete} 个文件需要运行 `carepath pathway layout` (need layout)")
        else:
            click.echo(f"{len(files)} 个文件的图形信息完整 (DI complete)")
    sys.exit(1 if failed or incomplete else 0)
