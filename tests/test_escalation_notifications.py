"""An escalation reaches people on the channels they chose: the county supervisor's WeCom group
robot at once, the family doctor's email in the daily digest (local receivers)."""
from __future__ import annotations

from datetime import datetime

from engine.context import EngineContext
from engine.directory import load_directory
from engine.pathways import deploy_files
from engine.runtime import services
from engine.runtime.scheduler import sweep_once
from engine.settings import Settings

from conftest import BPMN, SHANGHAI, T0
from notify_servers import SmtpSink, WebhookReceiver


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


def test_escalations_go_out_by_webhook_and_email_digest(ctx, tmp_path):
    with WebhookReceiver() as robot, SmtpSink() as smtp:
        prefs = tmp_path / "prefs.yaml"
        prefs.write_text(
            "users:\n"
            f"  - {{username: sun_sup, name: 孙督导, roles: [{{role: health.supervisor, org: '510781'}}],"
            f" webhook: '{robot.url()}', notify: {{webhook: immediate}}}}\n"
            "  - {username: doctor_a, name: 周医生, email: zhou@example.cn, notify: {email: digest},"
            " roles: [{role: health.family_doctor, org: '510781001'}, {role: health.psychiatrist, org: '510781'}]}\n",
            encoding="utf-8")
        load_directory(ctx.db, prefs)
        engine = EngineContext(Settings(database_url=ctx.settings.database_url, smtp_host="127.0.0.1",
                                        smtp_port=smtp.port), now=T0, db=ctx.db)
        deploy_files(engine, [BPMN / "scored_referral.bpmn"])
        started = services.start_instance(engine, "scored_referral", "510781001", {})
        services.complete(engine, started.tasks[0]["id"], "doctor_a", {"phq9": 3})

        report = sweep_once(engine.at(at(5, 18)))          # levels 1 and 2 due
        assert report["escalations_raised"] == 2
        assert len(robot.requests) == 1 and "超过截止时间" in robot.contents()[0]
        # The doctor asked for a digest: past 08:30, today's digest goes out with today's items.
        assert len(smtp.messages) == 1 and smtp.envelopes[0]["to"] == ["zhou@example.cn"]
        assert "常规随访" in smtp.messages[0].get_content()

        assert sweep_once(engine.at(at(5, 18)))["escalations_raised"] == 0
        sweep_once(engine.at(at(5, 20)))
        sweep_once(engine.at(at(6, 8, 30)))                 # next morning: nothing new to digest
        assert len(robot.requests) == 1 and len(smtp.messages) == 1   # nothing sent twice
