#!/usr/bin/env python3
"""Writes deploy/grafana/sluice.json, the Sluice Grafana dashboard.

The dashboard is generated so that its panels stay uniform and reviewable;
edit this file, not the JSON, then run it:

    deploy/grafana/generate.py            # rewrite sluice.json
    deploy/grafana/generate.py --check    # exit 1 when sluice.json is out of date

Grafana 10 schema (schemaVersion 38). The data source is the dashboard
variable DS_PROMETHEUS (type datasource), so the file works both imported
through the UI and provisioned from a file or a ConfigMap. Every metric named
in a query must be listed in metrics.txt (tests/deploy checks it).
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "sluice.json")
DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
NS = 'namespace=~"$namespace"'
PROV = 'provider=~"$provider"'
RI = "$__rate_interval"


class Layout:
    """Places panels left to right in rows of 24 grid units."""

    def __init__(self):
        self.y = 0
        self.x = 0
        self.row_h = 0
        self.next_id = 1
        self.panels = []

    def _id(self):
        i = self.next_id
        self.next_id += 1
        return i

    def row(self, title):
        self.newline()
        self.panels.append({"type": "row", "title": title, "id": self._id(), "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.y += 1

    def newline(self):
        if self.x:
            self.y += self.row_h
            self.x = 0
            self.row_h = 0

    def add(self, panel, w, h):
        if self.x + w > 24:
            self.newline()
        panel["id"] = self._id()
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)


def target(expr, legend="", ref="A", instant=False):
    t = {"datasource": DS, "expr": expr, "legendFormat": legend or "__auto", "refId": ref, "range": not instant}
    if instant:
        t["instant"] = True
    return t


def targets(*pairs):
    return [target(e, l, chr(ord("A") + i)) for i, (e, l) in enumerate(pairs)]


def timeseries(title, desc, tgts, unit="short", stack=False, min0=True, overrides=None, max_=None):
    defaults = {
        "unit": unit,
        "color": {"mode": "palette-classic"},
        "custom": {
            "drawStyle": "line", "lineWidth": 1, "fillOpacity": 15 if stack else 5,
            "showPoints": "never", "spanNulls": False,
            "stacking": {"mode": "normal" if stack else "none", "group": "A"},
            "axisPlacement": "auto",
        },
    }
    if min0:
        defaults["min"] = 0
    if max_ is not None:
        defaults["max"] = max_
    return {
        "type": "timeseries", "title": title, "description": desc, "datasource": DS, "targets": tgts,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "showLegend": True,
                               "calcs": ["mean", "max", "lastNotNull"]},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
    }


def stat(title, desc, expr, unit="short", thresholds=None, decimals=None, color_mode="value"):
    steps = thresholds or [{"color": "green", "value": None}]
    defaults = {"unit": unit, "color": {"mode": "thresholds"},
                "thresholds": {"mode": "absolute", "steps": steps}}
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "stat", "title": title, "description": desc, "datasource": DS,
        "targets": [target(expr, " ", "A", instant=True)],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": color_mode, "graphMode": "area", "justifyMode": "auto",
                    "orientation": "auto", "textMode": "auto"},
    }


def red_above(v):
    return [{"color": "green", "value": None}, {"color": "red", "value": v}]


def red_below(v, amber=None):
    steps = [{"color": "red", "value": None}]
    if amber is not None:
        steps.append({"color": "orange", "value": amber})
    steps.append({"color": "green", "value": v})
    return steps


def override_color(name, color):
    return {"matcher": {"id": "byName", "options": name},
            "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": color}}]}


def dashboard():
    L = Layout()

    # ---- Overview --------------------------------------------------------
    L.row("Overview")
    L.add(stat("submit_sm accepted /s", "submit_sm answered ESME_ROK per second, all gateways.",
               f'sum(rate(sluice_gateway_pdus_total{{command="submit_sm",status="ESME_ROK",{NS}}}[{RI}]))',
               unit="reqps"), 4, 4)
    L.add(stat("submit_sm refused", "Share of submit_sm answered with an error status.",
               f'sum(rate(sluice_gateway_pdus_total{{command="submit_sm",status!="ESME_ROK",{NS}}}[{RI}]))'
               f' / sum(rate(sluice_gateway_pdus_total{{command="submit_sm",{NS}}}[{RI}]))',
               unit="percentunit", thresholds=red_above(0.05), decimals=2), 4, 4)
    L.add(stat("submit p99", "99th percentile of the gateway's submit_sm to submit_sm_resp time "
               "(includes the durable write to Kafka).",
               f'histogram_quantile(0.99, sum by (le) (rate(sluice_gateway_submit_seconds_bucket{{{NS}}}[{RI}])))',
               unit="s", thresholds=red_above(0.5)), 4, 4)
    L.add(stat("DLR success", "Share of final delivery receipts with stat DELIVRD.",
               f'sum(rate(sluice_dlr_receipts_total{{stat="DELIVRD",{NS}}}[{RI}]))'
               f' / sum(rate(sluice_dlr_receipts_total{{stat!~"ENROUTE|ACCEPTD",{NS}}}[{RI}]))',
               unit="percentunit", thresholds=red_below(0.9, 0.7), decimals=1), 4, 4)
    L.add(stat("Customer binds", "SMPP binds of customers, all gateways.",
               f'sum(sluice_gateway_binds{{{NS}}})'), 4, 4)
    L.add(stat("Provider binds up", "Binds to providers that are up, all senders.",
               f'sum(sluice_sender_binds_up{{{NS}}})', thresholds=red_below(1)), 4, 4)

    # ---- Traffic ---------------------------------------------------------
    L.row("Traffic")
    L.add(timeseries("submit_sm per second by status",
                     "submit_sm from customers by the command_status the gateway answered.",
                     targets((f'sum by (status) (rate(sluice_gateway_pdus_total{{command="submit_sm",{NS}}}[{RI}]))',
                              "{{status}}")),
                     unit="reqps", stack=True, overrides=[override_color("ESME_ROK", "green")]), 12, 8)
    L.add(timeseries("PDUs per second by command",
                     "Every PDU from customers by command.",
                     targets((f'sum by (command) (rate(sluice_gateway_pdus_total{{{NS}}}[{RI}]))', "{{command}}")),
                     unit="reqps"), 12, 8)
    L.add(timeseries("Customer binds and connections",
                     "Open TCP connections and binds by type, all gateways.",
                     targets((f'sum by (bind_type) (sluice_gateway_binds{{{NS}}})', "{{bind_type}}"),
                             (f'sum(sluice_gateway_connections{{{NS}}})', "connections"))), 8, 8)
    L.add(timeseries("Bind attempts by result",
                     "Customer bind attempts per second by result (a burst of failures: wrong "
                     "credentials, or a bind limit).",
                     targets((f'sum by (result) (rate(sluice_gateway_bind_attempts_total{{{NS}}}[{RI}]))',
                              "{{result}}")),
                     unit="reqps"), 8, 8)
    L.add(timeseries("deliver_sm to customers",
                     "DLRs and MO sent to customers' binds, by kind and the status the customer answered "
                     "(expired: validity ran out before a bind took it).",
                     targets((f'sum by (kind, status) (rate(sluice_deliver_sm_total{{{NS}}}[{RI}]))',
                              "{{kind}} {{status}}")),
                     unit="reqps"), 8, 8)

    # ---- Latency ---------------------------------------------------------
    L.row("Latency")
    L.add(timeseries("Gateway submit latency",
                     "submit_sm to submit_sm_resp at the gateway: the customer's view, including "
                     "the acknowledged write to Kafka.",
                     targets((f'histogram_quantile(0.5, sum by (le) (rate(sluice_gateway_submit_seconds_bucket{{{NS}}}[{RI}])))', "p50"),
                             (f'histogram_quantile(0.99, sum by (le) (rate(sluice_gateway_submit_seconds_bucket{{{NS}}}[{RI}])))', "p99"),
                             (f'sum(rate(sluice_gateway_submit_seconds_sum{{{NS}}}[{RI}])) / '
                              f'sum(rate(sluice_gateway_submit_seconds_count{{{NS}}}[{RI}]))', "mean")),
                     unit="s"), 12, 8)
    L.add(timeseries("Provider submit latency p50 / p99",
                     "submit_sm to submit_sm_resp at each provider, as the senders see it.",
                     targets((f'histogram_quantile(0.5, sum by (le, provider) (rate(sluice_sender_submit_seconds_bucket{{{PROV},{NS}}}[{RI}])))', "{{provider}} p50"),
                             (f'histogram_quantile(0.99, sum by (le, provider) (rate(sluice_sender_submit_seconds_bucket{{{PROV},{NS}}}[{RI}])))', "{{provider}} p99"),
                             (f'sum by (provider) (rate(sluice_sender_submit_seconds_sum{{{PROV},{NS}}}[{RI}])) / '
                              f'sum by (provider) (rate(sluice_sender_submit_seconds_count{{{PROV},{NS}}}[{RI}]))', "{{provider}} mean")),
                     unit="s"), 12, 8)

    # ---- Providers -------------------------------------------------------
    L.row("Providers")
    L.add(timeseries("Throughput by provider",
                     "submit_sm per second accepted by each provider (ESME_ROK), against the configured "
                     "rate (the sum of every sender's share).",
                     targets((f'sum by (provider) (rate(sluice_sender_submits_total{{status="ESME_ROK",{PROV},{NS}}}[{RI}]))', "{{provider}}"),
                             (f'sum by (provider) (sluice_sender_rate_limit{{{PROV},{NS}}})', "{{provider}} limit")),
                     unit="reqps",
                     overrides=[{"matcher": {"id": "byRegexp", "options": ".* limit"},
                                 "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}]}]),
          12, 8)
    L.add(timeseries("Provider answers by status",
                     "submit_sm_resp statuses from providers (ESME_RTHROTTLED slows the sender down).",
                     targets((f'sum by (provider, status) (rate(sluice_sender_submits_total{{{PROV},{NS}}}[{RI}]))',
                              "{{provider}} {{status}}")),
                     unit="reqps"), 12, 8)
    L.add(timeseries("Throttling by provider",
                     "ESME_RTHROTTLED / ESME_RMSGQFUL answers per second from each provider.",
                     targets((f'sum by (provider) (rate(sluice_sender_throttle_events_total{{{PROV},{NS}}}[{RI}]))', "{{provider}}")),
                     unit="reqps"), 8, 8)
    L.add(timeseries("Window in use",
                     "Outstanding submit_sm (no submit_sm_resp yet) per provider, all senders.",
                     targets((f'sum by (provider) (sluice_sender_window_used{{{PROV},{NS}}})', "{{provider}}"))), 8, 8)
    L.add(timeseries("Provider binds up",
                     "Binds up per provider, all senders.",
                     targets((f'sum by (provider) (sluice_sender_binds_up{{{PROV},{NS}}})', "{{provider}}"))), 8, 8)

    # ---- Delivery reports ------------------------------------------------
    L.row("Delivery reports")
    L.add(timeseries("DLR success rate",
                     "Share of final receipts that are DELIVRD (intermediate ENROUTE/ACCEPTD left out).",
                     targets((f'sum(rate(sluice_dlr_receipts_total{{stat="DELIVRD",{NS}}}[{RI}])) / '
                              f'sum(rate(sluice_dlr_receipts_total{{stat!~"ENROUTE|ACCEPTD",{NS}}}[{RI}]))', "DELIVRD share")),
                     unit="percentunit", max_=1), 8, 8)
    L.add(timeseries("Receipts by stat",
                     "Delivery receipts from providers by stat.",
                     targets((f'sum by (stat) (rate(sluice_dlr_receipts_total{{{NS}}}[{RI}]))', "{{stat}}")),
                     unit="reqps", stack=True, overrides=[override_color("DELIVRD", "green")]), 8, 8)
    L.add(timeseries("Receipts received and unmatched",
                     "deliver_sm receipts the senders took in, per provider, and receipts the dlr stage "
                     "could not match to a submitted message within the hold time.",
                     targets((f'sum by (provider) (rate(sluice_sender_dlrs_received_total{{{PROV},{NS}}}[{RI}]))', "{{provider}}"),
                             (f'sum(rate(sluice_dlr_unmatched_total{{{NS}}}[{RI}]))', "unmatched")),
                     unit="reqps", overrides=[override_color("unmatched", "red")]), 8, 8)

    # ---- Pipeline --------------------------------------------------------
    L.row("Pipeline (Kafka)")
    L.add(timeseries("Consumer lag per stage",
                     "Records waiting for each stage's consumer group (sum over its instances). "
                     "Growing lag: the stage needs more instances, or is stuck.",
                     targets((f'sum by (stage) (sluice_stage_consumer_lag{{{NS}}})', "{{stage}}"))), 12, 8)
    L.add(timeseries("Records per stage by result",
                     "Records each stage consumed per second, by result.",
                     targets((f'sum by (stage, result) (rate(sluice_stage_records_total{{{NS}}}[{RI}]))', "{{stage}} {{result}}")),
                     unit="rps"), 12, 8)

    # ---- Errors ----------------------------------------------------------
    L.row("Errors and limits")
    L.add(timeseries("Kafka produce errors",
                     "Records Kafka did not take, by stage and error. At the gateway each one is a "
                     "submit_sm answered with an error (never a false OK).",
                     targets((f'sum by (stage, error) (rate(sluice_kafka_produce_errors_total{{{NS}}}[{RI}]))', "{{stage}} {{error}}")),
                     unit="reqps"), 8, 8)
    L.add(timeseries("submit_sm errors by status",
                     "submit_sm answered with anything but ESME_ROK.",
                     targets((f'sum by (status) (rate(sluice_gateway_pdus_total{{command="submit_sm",status!="ESME_ROK",{NS}}}[{RI}]))', "{{status}}")),
                     unit="reqps"), 8, 8)
    L.add(timeseries("Customers throttled (top 10)",
                     "submit_sm refused with ESME_RTHROTTLED because a customer exceeded its rate.",
                     targets((f'topk(10, sum by (customer) (rate(sluice_gateway_throttled_total{{{NS}}}[{RI}])))', "{{customer}}")),
                     unit="reqps"), 8, 8)

    # ---- Configuration ---------------------------------------------------
    L.row("Configuration")
    L.add(stat("Config version (newest)", "The newest configuration version an instance runs.",
               f'max(sluice_config_version{{{NS}}})'), 6, 4)
    L.add(stat("Instances behind", "Instances whose configuration is older than the newest one "
               "(changes apply within seconds; more means LISTEN/NOTIFY or PostgreSQL trouble).",
               f'count(sluice_config_version{{{NS}}} < scalar(max(sluice_config_version{{{NS}}}))) or vector(0)',
               thresholds=red_above(1)), 6, 4)
    L.add(timeseries("Config state", "Instances by configuration state (e.g. live, or running on the "
                     "last saved copy while PostgreSQL is away).",
                     targets((f'sum by (state) (sluice_config_state{{{NS}}})', "{{state}}"))), 12, 4)

    return {
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
            {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
            {"type": "panel", "id": "timeseries", "name": "Time series", "version": ""},
            {"type": "panel", "id": "stat", "name": "Stat", "version": ""},
        ],
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
            "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}]},
        "description": "Sluice SMPP gateway: traffic, latency, providers, delivery reports, Kafka lag, errors.",
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [],
        "liveNow": False,
        "panels": L.panels,
        "refresh": "30s",
        "schemaVersion": 38,
        "tags": ["sluice", "smpp", "sms", "kafka"],
        "templating": {"list": [
            {"name": "DS_PROMETHEUS", "label": "Data source", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0, "includeAll": False, "multi": False, "options": [], "refresh": 1,
             "regex": "", "skipUrlSync": False},
            {"name": "namespace", "label": "Namespace", "type": "query", "datasource": DS,
             "definition": "label_values(sluice_stage_records_total, namespace)",
             "query": {"query": "label_values(sluice_stage_records_total, namespace)", "refId": "namespace"},
             "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "hide": 0, "includeAll": True, "allValue": ".*", "multi": True, "options": [],
             "refresh": 2, "regex": "", "sort": 1, "skipUrlSync": False},
            {"name": "provider", "label": "Provider", "type": "query", "datasource": DS,
             "definition": "label_values(sluice_sender_submits_total, provider)",
             "query": {"query": "label_values(sluice_sender_submits_total, provider)", "refId": "provider"},
             "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "hide": 0, "includeAll": True, "allValue": ".*", "multi": True, "options": [],
             "refresh": 2, "regex": "", "sort": 1, "skipUrlSync": False},
        ]},
        "time": {"from": "now-3h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": "Sluice",
        "uid": "sluice-overview",
        "version": 1,
        "weekStart": "",
    }


def render():
    return json.dumps(dashboard(), indent=2) + "\n"


def main():
    text = render()
    if sys.argv[1:] == ["--check"]:
        current = open(OUT, encoding="utf-8").read() if os.path.exists(OUT) else ""
        if current != text:
            print("deploy/grafana/sluice.json is out of date: run deploy/grafana/generate.py", file=sys.stderr)
            return 1
        return 0
    if sys.argv[1:]:
        print("usage: deploy/grafana/generate.py [--check]", file=sys.stderr)
        return 2
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(OUT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
