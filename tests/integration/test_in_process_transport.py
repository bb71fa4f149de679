"""The in-process transport (runners and tests under mock_aws) from several threads at once."""
import os
import threading

from chalicelib.executor.inprocess import InProcessHttp


def test_concurrent_requests_leave_the_process_environment_alone(app_module):
    real = os.environ
    http = InProcessHttp(app_module.app)
    statuses = []

    def hammer():
        for _ in range(150):
            statuses.append(http.request("GET", "/api/v2/ping").status_code)
    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    os.environ["TERRALESS_TRANSPORT_PROBE"] = "set"
    for thread in threads:
        thread.join()
    try:
        assert statuses == [200] * 600
        assert os.environ is real and isinstance(os.environ, os._Environ)
        assert os.environ.get("TERRALESS_TRANSPORT_PROBE") == "set"
    finally:
        os.environ.pop("TERRALESS_TRANSPORT_PROBE", None)


def test_an_unroutable_request_answers_in_the_api_shape(app_module):
    answer = InProcessHttp(app_module.app).request("DELETE", "/api/v2/ping")
    assert answer.status_code == 405
