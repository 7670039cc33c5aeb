# hyperion.hybrid: run a model on the board or on the host relay, by policy.
#
#   from hyperion.hybrid import Runtime, RemoteUnavailable
#   rt = Runtime("auto")                 # remote settings from hyperion.config()["remote"], or url=..., api_key=...
#   y = rt.run("kws", x)                 # array('f') (a tuple for several outputs), wherever it ran
#   rt.counts                            # {"local": n, "remote": n, "fallback": n, "failed": n}
#   rt.report()                          # what the relay's monitoring gets: counts, free heap, local p50/p95
#   for piece in rt.generate("tinylm", "Once upon a time", 80):   # a language model: board or relay
#       print(piece, end="")
#
# policy "local": always on the board. "remote": always on the relay; if that fails (refused, timeout, 5xx,
# 429, ...) the board runs the model itself when it has it, else RemoteUnavailable is raised with the reason.
# "auto": on the board when the model is there and fits in the free heap (from the .hyq header: arena, the
# largest weight tensor, the tables; conservatively), else on the relay, with the same fallback. A model
# loaded on the board stays loaded (it is run locally from then on).
import gc
import struct
from array import array

from hyperion.kernels import clock_us
from hyperion.remote import RemoteError, RemoteUnavailable, connect

try:
    from time import ticks_diff
except ImportError:  # CPython and CircuitPython: their clock (clock_us) does not wrap

    def ticks_diff(a, b):
        return a - b

POLICIES = ("local", "remote", "auto")
RESERVE = 16384  # heap kept free beyond the estimate (tables, metadata and run-time garbage)
RING = 16  # local run times kept for the relay's monitoring (report(): p50 and p95)


class Runtime:
    def __init__(self, policy="auto", url=None, api_key=None, timeout=None, retries=None, client=None,
                 kernels=None, mode=None, reserve=RESERVE, remote_name=None):
        if policy not in POLICIES:
            raise ValueError("policy must be one of local, remote, auto, not %r" % (policy,))
        self.policy = policy
        self._url = url
        self._api_key = api_key
        self._timeout = timeout
        self._retries = retries
        self._client = client
        self.kernels = kernels
        self.mode = mode
        self.reserve = reserve
        self.remote_name = remote_name  # optional: a function model name -> relay model name
        self.models = {}
        self.counts = {"local": 0, "remote": 0, "fallback": 0, "failed": 0}
        self.last_error = None  # the reason of the last remote failure
        self.last = None  # where the last run ran: "local", "remote" or "fallback"
        self._clock = clock_us()
        self._us = array("f", bytes(4 * RING))  # the last local run times (us); filled in place, never grown
        self._runs = 0
        self.kernel = None  # the kernel module of the last local run (its PATH goes to the relay)

    # -- where ---------------------------------------------------------------------------------------------
    def client(self):
        if self._client is None:
            self._client = connect(self._url, self._api_key, self._timeout, self._retries)
        self._client.counts = self.counts
        self._client.report = self.report
        return self._client

    def local_path(self, model):
        """The model's file on the board, or None."""
        import hyperion

        try:
            return hyperion._find(model)
        except OSError:
            return None

    def fits(self, model, path=None):
        """(fits, bytes needed, bytes free) for running the model on the board, from its .hyq header."""
        path = path or self.local_path(model)
        if path is None:
            return False, 0, 0
        need = estimate(path) + self.reserve
        gc.collect()
        free = gc.mem_free() if hasattr(gc, "mem_free") else need  # CPython: no heap limit to respect
        return need <= free, need, free

    def decide(self, model, path=None):
        """'local' or 'remote' for the next run of model (before any fallback)."""
        if self.policy != "auto":
            return self.policy
        if model in self.models:  # loaded before: it fits
            return "local"
        path = path or self.local_path(model)
        if path is not None and self.fits(model, path)[0]:
            return "local"
        return "remote"

    # -- running -------------------------------------------------------------------------------------------
    def run(self, model, x):
        path = None if model in self.models else self.local_path(model)
        if self.decide(model, path) == "local":
            try:
                y = self._local(model, path, x)
                self._count("local")
                return y
            except MemoryError as e:
                if self.policy == "local":
                    raise
                self.last_error = "did not fit on the board: %s" % e  # auto: try the relay instead
        try:
            y = self._remote(model, x)
            self._count("remote")
            return y
        except RemoteError as e:
            self.last_error = e.reason
            if path is None and model not in self.models:
                self._count("failed")
                raise RemoteUnavailable("model '%s' could not run on the relay (%s) and is not on the board"
                                        % (model, e.reason), e.kind, e.status)
            try:
                y = self._local(model, path, x)
            except MemoryError as me:
                self._count("failed")
                raise RemoteUnavailable("model '%s' could not run on the relay (%s) nor on the board (%s)"
                                        % (model, e.reason, me), e.kind, e.status)
            self._count("fallback")
            return y

    def generate(self, model, prompt, max_tokens=64, temperature=0.8, top_k=40, top_p=0.95, repetition_penalty=1.0,
                 stop=None, seed=None):
        """Text from a language model, as pieces: on the board when the model is there and its decoder (KV cache
        and all) fits in the heap, else the relay writes it (one piece) with the same sampling settings. Local
        generation is started here, so a board that runs out of memory hands the request over before any text."""
        kw = {"temperature": temperature, "top_k": top_k, "top_p": top_p, "repetition_penalty": repetition_penalty,
              "stop": stop, "seed": seed}
        path = None if model in self.models else self.local_path(model)
        if self.policy != "remote" and (path is not None or model in self.models):
            try:
                m = self.models.get(model)
                if m is None:
                    import hyperion

                    m = self.models[model] = hyperion.load(path, kernels=self.kernels, mode=self.mode)
                gen = m.generate(prompt, max_tokens, **kw)
                first = next(gen, None)  # the prompt is read here: the cache and buffers are allocated
                self._count("local")
                return _chain(first, gen)
            except MemoryError as e:
                if self.policy == "local":
                    raise
                self.unload(model)
                self.last_error = "did not fit on the board: %s" % e
        elif self.policy == "local":
            raise ValueError("model '%s' is not on the board" % model)
        args = {"model": self.remote_name(model) if self.remote_name else _stem(model), "prompt": prompt,
                "max_tokens": max_tokens, "temperature": temperature, "top_k": top_k, "top_p": top_p,
                "repetition_penalty": repetition_penalty}
        if seed is not None:
            args["seed"] = seed
        if stop:
            if not isinstance(stop, str):
                if len(stop) != 1:
                    raise ValueError("the relay takes one stop sequence")
                stop = stop[0]
            args["stop"] = stop
        try:
            res = self.client().call("generate", args)
        except RemoteError as e:
            self.last_error = e.reason
            self._count("failed")
            raise RemoteUnavailable("model '%s' could not write on the relay (%s)" % (model, e.reason), e.kind,
                                    e.status)
        self._count("remote")
        return iter((res.get("text", ""),))

    def _count(self, what):
        self.counts[what] += 1
        self.last = what

    def _local(self, model, path, x):
        m = self.models.get(model)
        if m is None:
            import hyperion

            m = hyperion.load(path or model, kernels=self.kernels, mode=self.mode)
            self.models[model] = m
        t = self._clock()
        y = m.run(x)
        self._us[self._runs % RING] = ticks_diff(self._clock(), t)  # an int into the float array: no allocation
        self._runs += 1
        self.kernel = m.k
        return y

    def report(self):
        """What the relay's monitoring gets with each remote call (under _meta "io.hyperion/client"): the counts,
        the free heap, p50/p95 of the last RING local runs in ms, and the last local run's kernel path."""
        d = dict(self.counts)
        if hasattr(gc, "mem_free"):
            d["mem_free"] = gc.mem_free()
        n = min(self._runs, RING)
        if n:
            s = sorted(self._us[:n])
            d["p50_ms"] = s[(50 * n + 99) // 100 - 1] / 1000
            d["p95_ms"] = s[(95 * n + 99) // 100 - 1] / 1000
            d["runs"] = self._runs
        k = self.kernel
        if k is not None:
            d["kernels"] = k.PATH + ("+ulab" if getattr(k, "SOURCE", None) else "")
        return d

    def _remote(self, model, x):
        name = self.remote_name(model) if self.remote_name else _stem(model)
        return self.client().infer(name, x)

    def unload(self, model=None):
        """Forget loaded models (all, or one) and free their heap."""
        for k in list(self.models) if model is None else [model]:
            m = self.models.pop(k, None)
            if m is not None:
                m.close()
        gc.collect()

    def stats(self):
        d = dict(self.counts)
        d["policy"] = self.policy
        d["loaded"] = list(self.models)
        d["last"] = self.last
        d["last_error"] = self.last_error
        return d

    def close(self):
        self.unload()
        if self._client is not None:
            self._client.close()


def _chain(first, rest):
    if first is not None:
        yield first
    for piece in rest:
        yield piece


def _stem(name):
    i = name.rfind("/")
    if i >= 0:
        name = name[i + 1:]
    if name.endswith(".hyq"):
        name = name[:-4]
    return name


def estimate(path):
    """Heap bytes a .hyq needs on the board, from its header: the activation arenas and the weight buffer
    (the largest tensor) with 1/8 slack, plus the parsed tables and metadata (about 12 bytes per table byte) and
    4 KB of fixed cost. Measured on the unix port, it covers what loading and a first run keep allocated; the
    firmware's own one-time costs (modules imported and names interned on a first load) come on top."""
    from hyperion import hyq

    with open(path, "rb") as f:
        h = f.read(hyq.HEADER_SIZE)
    if len(h) < hyq.HEADER_SIZE or h[:4] != hyq.MAGIC:
        raise ValueError("%s is not a .hyq file" % path)
    v = struct.unpack(hyq.HEADER_FMT, h)
    table, arena, arena8, scratch, data_offset = v[7], v[8], v[9], v[10], v[11]
    meta = data_offset - hyq.HEADER_SIZE - table
    core = arena + arena8 + scratch
    return 4096 + core + core // 8 + 12 * table + 2 * meta


__all__ = ["Runtime", "RemoteUnavailable", "RemoteError", "estimate", "POLICIES"]
