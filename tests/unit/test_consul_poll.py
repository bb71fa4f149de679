"""What a Consul poll asks for, decided from the tasks' conditions (no AWS, no Consul)."""
import base64

from chalicelib.services import consul_poll

WEB = {"condition": {"services": {"names": ["web", "api"], "datacenter": "dc2", "filter": "Service.Tags contains \"v1\""}}}
REGEXP = {"condition": {"catalog-services": {"regexp": "^db-", "namespace": "team"}}}
KV = {"condition": {"consul-kv": {"path": "app/config", "recurse": True}}}
KEY = {"condition": {"consul-kv": {"path": "app/flag"}}}
SCHEDULE = {"condition": {"schedule": {"cron": "* * * * *"}}}


def test_service_queries_take_names_regexps_and_the_condition_parameters():
    catalog = {"db-main": [], "db-replica": ["r"], "web": [], "consul": []}
    queries = consul_poll.service_queries([WEB, REGEXP, SCHEDULE], catalog)
    assert set(queries) == {"web", "api", "db-main", "db-replica"}
    assert queries["web"] == {"dc": "dc2", "ns": None, "filter": 'Service.Tags contains "v1"'}
    assert queries["db-main"]["ns"] == "team"
    # the catalog is read only when some condition selects by regexp
    assert consul_poll.needs_catalog([WEB, REGEXP]) and not consul_poll.needs_catalog([WEB, KV])
    assert set(consul_poll.service_queries([REGEXP], None)) == set()


def test_kv_queries_and_snapshots():
    assert consul_poll.kv_queries([KV, KEY, WEB]) == {"app/config": True, "app/flag": False}
    entries = [{"Key": "app/config/a", "Value": base64.b64encode(b"1").decode()},
               {"Key": "app/config/b", "Value": None}]
    assert consul_poll.kv_snapshot(entries) == {"app/config/a": "1", "app/config/b": ""}


def test_address_as_consul_tools_read_it(monkeypatch):
    monkeypatch.delenv("CONSUL_HTTP_ADDR", raising=False)
    assert consul_poll.address() is None
    monkeypatch.setenv("CONSUL_HTTP_ADDR", "127.0.0.1:8500")
    assert consul_poll.address() == "http://127.0.0.1:8500"
    monkeypatch.setenv("CONSUL_HTTP_SSL", "true")
    assert consul_poll.address() == "https://127.0.0.1:8500"
    monkeypatch.setenv("CONSUL_HTTP_ADDR", "http://consul.internal:8500/")
    assert consul_poll.address() == "http://consul.internal:8500"
