"""Long work releases the GIL; progress reaches logging or a callback."""
import logging
import threading
import time

from conftest import ACAS_PROP1, ACAS_STAGES


def test_analyze_releases_the_gil(acas_model):
    stop = threading.Event()
    gaps = {"max": 0.0, "iterations": 0}

    def spin():
        last = time.perf_counter()
        while not stop.is_set():
            now = time.perf_counter()
            gaps["max"] = max(gaps["max"], now - last)
            gaps["iterations"] += 1
            last = now

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        start = time.perf_counter()
        acas_model.analyze(vnnlib=ACAS_PROP1, stages=ACAS_STAGES, threads=1)
        elapsed = time.perf_counter() - start
    finally:
        stop.set()
        thread.join()
    assert elapsed > 0.2, "the analysis was too short to tell"
    # Holding the GIL would stop the other thread for the whole analysis.
    assert gaps["max"] < 0.5 * elapsed, (gaps, elapsed)
    assert gaps["iterations"] > 1000


def test_progress_goes_to_logging(mnist_model, caplog):
    with caplog.at_level(logging.INFO, logger="leo"):
        mnist_model.compress(box=(0, 1))
    lines = [r.getMessage() for r in caplog.records if r.name == "leo"]
    assert any("compress" in line for line in lines), lines
    # and nothing when the logger is not enabled for INFO
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="leo"):
        mnist_model.analyze(box=(0, 1))
    assert not [r for r in caplog.records if r.name == "leo"]


def test_progress_to_a_callback(mnist_model):
    lines = []
    mnist_model.compress(box=(0, 1), progress=lines.append)
    assert lines and all(isinstance(line, str) and "\n" not in line for line in lines)
    assert any("checking" in line for line in lines)
    # a failing callback does not break the work (its exception goes to
    # sys.unraisablehook, as for any callback Python cannot raise into)
    calls = []

    def broken(line):
        calls.append(line)
        raise RuntimeError("callback failed")

    small, _ = mnist_model.compress(box=(0, 1), progress=broken)
    assert calls and small.hidden_units < mnist_model.hidden_units
