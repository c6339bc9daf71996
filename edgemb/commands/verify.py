"""`edgemb verify`: every prediction of a board compared byte for byte with TFLite Micro
on the host, with the board's own timings.

Boards work through one shared list of samples (several ports: a board farm). Each
finished sample is appended to samples.jsonl at once, so an interrupted run loses
nothing and `--resume` continues it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgemb.data.model_inputs import ModelInputs, image_inputs, random_inputs, tensor_file_inputs
from edgemb.data.pipeline import int8_input, pixels_numpy
from edgemb.errors import EdgembError
from edgemb.link.client import BoardClient
from edgemb.link.errors import BoardError, BoardRestarted, LinkError, LinkTimeout, PortError
from edgemb.model_folder import ModelFolder
from edgemb.reference import TflmReference
from edgemb.report.compare import compare_outputs, latency_summary
from edgemb.run import RunFolder
from edgemb.tflite import BUILTIN_OP_NAMES, fingerprint, read_tflite
from edgemb.tflite.io import ModelIO, model_io
from edgemb.verify_notes import board_notes, not_ready_message, runtime_versions

EXIT_OK, EXIT_MISMATCH, EXIT_LINK = 0, 1, 2
RECOVERY_ATTEMPTS = 2


class VerifyError(EdgembError):
    """The link or the board failed; results so far are kept."""

    exit_code = EXIT_LINK


@dataclass
class VerifyOptions:
    ports: list[str]
    samples: int = 100
    data: str | None = None
    baud: int = 921600
    reset: bool = False
    report_dir: Path | None = None
    resume: bool = False
    tolerance: int = 0
    bench: int = 10
    timeout: float = 2.0
    icount: bool = False  # ticks are QEMU -icount ticks (instructions_per_tick each)
    instructions_per_tick: int = 40  # the emulated target's (mps2-an386: 40)
    inputs: str | None = None  # a .npy / .npz of input tensors
    random: int | None = None  # this many seeded random input tensors
    seed: int = 0
    pixels: str = "auto"  # --data for a model from elsewhere: the pixels' real range
    model_name: str = "this run's model"  # how messages name the model and where it is from
    model_flag: str = "--run folder"


def select_samples(source: RunFolder | ModelFolder, io: ModelIO,
                   options: VerifyOptions) -> ModelInputs:
    """--random N, --inputs FILE, --data DIR, else a run's held-out test images (a model
    from elsewhere without any of them: random tensors, as many as --samples)."""
    count, labels = options.samples, source.labels()
    if options.random or (options.inputs is None and options.data is None
                          and isinstance(source, ModelFolder)):
        chosen = random_inputs(io.input, options.random or count, options.seed)
    elif options.inputs:
        chosen = tensor_file_inputs(options.inputs, io.input, count)
    elif isinstance(source, ModelFolder):
        chosen = image_inputs(options.data, io.input, count, labels, options.pixels)
    else:
        return run_samples(source, count, options.data)
    if chosen.class_names is None and labels is not None and len(chosen.labels) \
            and chosen.labels.max() >= 0:
        chosen.class_names = labels
    if chosen.class_names is not None and chosen.labels.max(initial=-1) >= len(chosen.class_names):
        raise VerifyError(f"the inputs' labels go up to {chosen.labels.max()}, the model has "
                          f"{len(chosen.class_names)} classes")
    return chosen


def run_samples(run: RunFolder, count: int, data: str | None) -> ModelInputs:
    """The run's held-out test images (or a folder's), preprocessed as in training."""
    from edgemb.data.source import load_source
    from edgemb.data.split import load_run_data

    settings = run.read_settings()
    if data:
        images = load_source(data, settings.size)
        if images.class_names != settings.labels:
            raise VerifyError(f"--data {data} has classes {images.class_names}, the model was "
                              f"trained on {settings.labels}")
        index = np.arange(len(images))
        how = f"{data}"
    else:
        images, split = load_run_data(run, settings)
        index = split.test
        how = "the run's held-out test split"
    index = index[:count]
    pixels = pixels_numpy(images.images[index], settings.size)
    return ModelInputs(int8_input(pixels), images.labels[index],
                       [images.names[i] for i in index], settings.labels,
                       f"{how}: {len(index)} images preprocessed as in training "
                       f"({settings.size}x{settings.size} RGB, int8 = pixel - 128)")


@dataclass
class SampleResult:
    index: int
    name: str
    label: int
    port: str
    output: bytes
    reference: bytes
    invoke_us: int
    ticks: int
    upload_bytes: int
    upload_seconds: float

    def record(self, io: ModelIO) -> dict:
        board, ref = io.steps(self.output), io.steps(self.reference)
        first = io.outputs[0].size
        largest = float(np.max(np.abs(board - ref)))
        return {
            "index": self.index, "name": self.name, "label": self.label, "port": self.port,
            "output": self.output.hex(), "reference": self.reference.hex(),
            "exact": self.output == self.reference,
            "board_class": int(np.argmax(board[:first])),
            "reference_class": int(np.argmax(ref[:first])),
            "max_abs_diff": int(largest) if largest.is_integer() else round(largest, 3),
            "invoke_us": self.invoke_us, "ticks": self.ticks,
            "upload_bytes": self.upload_bytes, "upload_seconds": self.upload_seconds,
        }


@dataclass
class BoardReport:
    port: str
    info: dict = field(default_factory=dict)
    samples: int = 0
    recoveries: list[str] = field(default_factory=list)
    bench: dict | None = None
    op_times: list[dict] = field(default_factory=list)
    failure: str | None = None


class SampleLog:
    """samples.jsonl: one line per finished sample, flushed as it is written."""

    def __init__(self, path: Path, model_fingerprint: str, resume: bool,
                 digests: list[str] | None = None):
        self.path = path
        self.lock = threading.Lock()
        self.done: dict[int, dict] = {}
        if resume and path.exists():
            for line in path.read_text().splitlines():
                if not line.strip():
                    continue
                record = json.loads(line)
                if record.get("fingerprint") != model_fingerprint:
                    raise VerifyError(f"{path} holds results for another model; run without "
                                      "--resume to start over")
                index = record["index"]
                expected = digests[index] if digests and index < len(digests) else None
                if expected and record.get("input_digest", expected) != expected:
                    raise VerifyError(f"{path} holds results for other inputs (another "
                                      "--data, --inputs, --random or --seed); resume with the "
                                      "same ones, or run without --resume to start over")
                self.done[record["index"]] = record
        else:
            path.write_text("")
        self.fingerprint = model_fingerprint
        self.digests = digests or []

    def append(self, record: dict) -> None:
        record = {**record, "fingerprint": self.fingerprint}
        if record["index"] < len(self.digests):  # which input it was, for --resume
            record["input_digest"] = self.digests[record["index"]]
        with self.lock:
            with self.path.open("a") as out:
                out.write(json.dumps(record) + "\n")
            self.done[record["index"]] = record


class BoardWorker(threading.Thread):
    """One board: handshake, then samples from the shared queue until it is empty."""

    def __init__(self, port: str, options: VerifyOptions, model_bytes: bytes,
                 samples: ModelInputs, reference: TflmReference, work: queue.Queue,
                 log: SampleLog, on_sample: Callable[[], None]):
        super().__init__(daemon=True, name=f"board {port}")
        self.port, self.options, self.samples = port, options, samples
        self.model_fingerprint = fingerprint(model_bytes)
        self.reference, self.work, self.log, self.on_sample = reference, work, log, on_sample
        self.report = BoardReport(port)
        self.reference_lock = threading.Lock()
        self.model_bytes = model_bytes

    @functools.cached_property
    def io(self) -> ModelIO:
        """How the board's answers read: read from the model when the first one comes."""
        return model_io(read_tflite(self.model_bytes))

    def run(self) -> None:
        try:
            self.client = self._connect()
            while True:
                try:
                    index = self.work.get_nowait()
                except queue.Empty:
                    break
                self.log.append(self._sample_with_recovery(index).record(self.io))
                self.report.samples += 1
                self.on_sample()
            self._measure_on_board()
        except (LinkError, VerifyError) as exc:
            self.report.failure = str(exc)
        finally:
            if getattr(self, "client", None) is not None:
                self.client.close()

    def _connect(self) -> BoardClient:
        try:
            client = BoardClient.open(self.port, baudrate=self.options.baud,
                                      reset=self.options.reset, timeout=self.options.timeout)
        except PortError as exc:
            raise VerifyError(str(exc)) from exc
        try:
            info = client.hello()
        except LinkTimeout as exc:
            client.close()
            raise VerifyError(f"the board on {self.port} does not answer the handshake: {exc}\n"
                              "Is the edgemb firmware flashed and the baud rate right "
                              f"(--baud {self.options.baud})?") from exc
        if info.fingerprint.hex() != self.model_fingerprint:
            client.close()
            raise VerifyError(
                f"the board on {self.port} runs another model: its fingerprint is "
                f"{info.fingerprint.hex()}, {self.options.model_name} is "
                f"{self.model_fingerprint}. Build and flash {self.options.model_name} "
                "(edgemb build, edgemb flash), or pass the "
                f"{self.options.model_flag} of the model the board runs")
        self.report.info = {
            "target": info.target, "runtime": info.runtime,
            "runtime_version": info.runtime_version, "cpu_hz": info.cpu_hz,
            "tick_hz": info.tick_hz, "tick_kind": info.tick_kind,
            "arena_bytes": info.arena_bytes, "protocol_version": info.protocol_version,
            "max_payload": info.max_payload, "window": info.window,
            "fingerprint": info.fingerprint.hex(), "status": info.status,
            "status_detail": info.status_detail, "arena_request": info.arena_request,
            "largest_free_internal": info.largest_free_internal,
            "largest_free_psram": info.largest_free_psram}
        if not info.ready:  # it answers, but cannot run its model: say why, not what fails next
            client.close()
            raise VerifyError(not_ready_message(self.port, info))
        return client

    def _sample_with_recovery(self, index: int) -> SampleResult:
        for attempt in range(RECOVERY_ATTEMPTS + 1):
            try:
                return self._sample(index)
            except (LinkTimeout, BoardError, BoardRestarted) as exc:
                if attempt == RECOVERY_ATTEMPTS:
                    self._give_back(index, f"after {RECOVERY_ATTEMPTS} recoveries: {exc}", exc)
                try:
                    self._recover(index, exc)
                except LinkError as again:
                    self._give_back(index, f"and did not answer a new handshake: {again}", again)
            except LinkError as exc:  # the port itself failed: unplugged, board gone
                self._give_back(index, str(exc), exc)
        raise AssertionError("unreachable")

    def _give_back(self, index: int, why: str, cause: Exception):
        """Returns the sample to the queue (another board may take it) and stops this one."""
        self.work.put(index)
        raise VerifyError(f"the board on {self.port} failed on sample {index} {why}; "
                          "the results so far are kept: rerun with --resume to continue") \
            from cause

    def _recover(self, index: int, cause: Exception) -> None:
        """A board that stopped answering, lost its input or restarted: handshake again."""
        self.client.hello(boot_timeout=10.0)
        self.report.recoveries.append(
            f"sample {index}: {type(cause).__name__}: {str(cause).splitlines()[0]}; "
            "the board answered a new handshake and the sample was sent again")

    def _sample(self, index: int) -> SampleResult:
        data = self.samples.tensors[index]
        started = time.perf_counter()
        self.client.load_input(data.tobytes())
        uploaded = time.perf_counter() - started
        result = self.client.invoke()
        if len(result.output) != self.io.output_bytes:
            raise VerifyError(
                f"the board on {self.port} answered {len(result.output)} output bytes; the "
                f"model's outputs have {self.io.output_bytes}: it runs firmware older than "
                "its model's build (rebuild and flash it)")
        with self.reference_lock:
            expected = self.reference.invoke_bytes(data)
        return SampleResult(index, self.samples.names[index], int(self.samples.labels[index]),
                            self.port, bytes(result.output), expected, result.time_us,
                            result.ticks, data.nbytes, uploaded)

    def _measure_on_board(self) -> None:
        if self.options.bench <= 0 or self.report.samples == 0:
            return
        bench = self.client.bench(self.options.bench)
        self.report.bench = {"count": bench.count, "min_us": bench.min_us,
                             "mean_us": bench.mean_us, "max_us": bench.max_us,
                             "min_ticks": bench.min_ticks, "mean_ticks": bench.mean_ticks,
                             "max_ticks": bench.max_ticks}
        times = self.client.op_times()
        self.report.op_times = [{"op": BUILTIN_OP_NAMES.get(t.op_code, str(t.op_code)),
                                 "ticks": t.ticks} for t in times.ops]


def verify(source: RunFolder | ModelFolder, options: VerifyOptions,
           on_progress: Callable[[int, int], None] = lambda done, total: None) -> dict:
    """Verifies the model of a run folder (edgemb's own) or of a model folder (--model)."""
    if isinstance(source, ModelFolder):
        model_bytes = source.require(source.tflite_file, "edgemb build").read_bytes()
        options.model_name, options.model_flag = "this model", "--model file"
    else:
        model_bytes = source.require(source.tflite_file, "edgemb quantize").read_bytes()
    model = read_tflite(model_bytes)
    io = model_io(model)
    samples = select_samples(source, io, options)
    if samples.class_names is not None and isinstance(source, ModelFolder):
        if output_kind(io) != "classes":
            samples.class_names = None  # not a classifier: no accuracy to give
        elif len(samples.class_names) != io.outputs[0].size:
            raise VerifyError(f"the inputs come in {len(samples.class_names)} classes "
                              f"({', '.join(samples.class_names[:6])}), the model's first "
                              f"output has {io.outputs[0].size} values; give inputs of its "
                              "classes, or --labels naming them")
    out_dir = options.report_dir or source.verify_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    digests = [hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()[:16]
               for x in samples.tensors]
    log = SampleLog(out_dir / "samples.jsonl", fingerprint(model_bytes), options.resume, digests)
    work: queue.Queue = queue.Queue()
    for index in range(len(samples.labels)):
        if index not in log.done:
            work.put(index)
    total = len(samples.labels)
    progress_lock = threading.Lock()

    def sample_done():
        with progress_lock:
            on_progress(len(log.done), total)

    on_progress(len(log.done), total)
    reference = TflmReference(model_bytes)
    workers = [BoardWorker(port, options, model_bytes, samples, reference, work, log,
                           sample_done) for port in options.ports]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    summary = summarize(io, samples, log, [w.report for w in workers], options, model_bytes)
    (out_dir / "verify.json").write_text(json.dumps(summary, indent=1) + "\n")
    from edgemb.report.verify_html import write_report

    summary["html_report"] = str(write_report(summary, log, samples, out_dir))
    (out_dir / "verify.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def output_kind(io: ModelIO) -> str:
    """"classes" when the first output is a vector of scores (argmax means something);
    "tensor" otherwise (an autoencoder, a detector's map): judged by its errors."""
    first = io.outputs[0]
    if first.shape[1:] == io.input.shape[1:] and len(first.shape) > 2:
        return "tensor"
    return "classes" if len([d for d in first.shape if d > 1]) == 1 else "tensor"


def summarize(io: ModelIO, samples: ModelInputs, log: SampleLog, boards: list[BoardReport],
              options: VerifyOptions, model_bytes: bytes) -> dict:
    records = [log.done[i] for i in sorted(log.done)]
    stats = compare_outputs(io, [bytes.fromhex(r["output"]) for r in records],
                            [bytes.fromhex(r["reference"]) for r in records], options.tolerance) \
        if records else {"samples": 0, "exact_matches": 0, "mismatches": 0, "argmax_agreement": 0}
    kind = output_kind(io)
    if kind != "classes":
        stats.pop("argmax_agreement", None)
    labels = np.array([r["label"] for r in records])
    labelled = bool(len(records)) and samples.class_names is not None and bool(np.all(labels >= 0))
    upload_bytes = sum(r["upload_bytes"] for r in records)
    upload_seconds = sum(r["upload_seconds"] for r in records)
    failures = [b.failure for b in boards if b.failure]
    incomplete = len(records) < len(samples.labels)
    summary = {
        **stats,
        "samples_requested": int(len(samples.labels)),
        "output_kind": kind,
        "inputs": samples.preprocessing,
        "model_inputs": io.input.describe(),
        "model_outputs": [t.describe() for t in io.outputs],
        "invoke_us": latency_summary([r["invoke_us"] for r in records]),
        "invoke_ticks": latency_summary([r["ticks"] for r in records]),
        "link": {"bytes_per_second": upload_bytes / upload_seconds if upload_seconds else 0.0,
                 "nominal_bytes_per_second": options.baud / 10,
                 "upload_bytes": upload_bytes},
        "model_fingerprint": fingerprint(model_bytes),
        "boards": [b.__dict__ for b in boards],
        "tolerance": options.tolerance,
        "icount": options.icount,
        "failures": failures,
        "complete": not incomplete,
        "labels": samples.class_names,
        # Which TFLite Micro each side runs, and what a pattern of mismatches points to.
        "runtime_versions": runtime_versions([b.__dict__ for b in boards]),
        "notes": board_notes([b.__dict__ for b in boards], records),
    }
    if labelled:  # accuracy only where every sample's class is known
        summary["board_accuracy"] = float(np.mean([r["board_class"] for r in records] == labels))
        summary["reference_accuracy"] = float(
            np.mean([r["reference_class"] for r in records] == labels))
    if options.icount:
        summary["instructions_per_tick"] = options.instructions_per_tick
    if options.icount and summary["invoke_ticks"]:
        summary["invoke_instructions"] = {k: v * options.instructions_per_tick
                                          for k, v in summary["invoke_ticks"].items()}
    if failures or incomplete:
        summary["exit_code"] = EXIT_LINK
    else:
        summary["exit_code"] = EXIT_OK if stats.get("mismatches", 0) == 0 else EXIT_MISMATCH
    return summary
