"""Workload forecast: a synthetic cohort run through the real engine on a moved clock.

Simulated staff complete tasks through `services.complete` with data their forms accept
(`formdata`), so routing, deadlines, escalations and gateways are the production ones.
"""
