"""Hands command lines to the real tools' own parsers and prints what each made of them.

stdin:  {"<tool>": [{"argv": [...], "env": {...}}, ...], ...} where argv is what the tool's executable receives
        after its own name, and <tool> is one of
          "vllm"    the `vllm` CLI (`serve ...`, as the image's `vllm serve` entrypoint gets it, or `bench serve ...`);
          "lm_eval" lm-eval's CLI;
          "python"  the LMCache image's python: `-m <lmcache server module> ...` (run inside that image).
stdout: {"<tool>": [{"accepted": true, "values": {...}} or {"accepted": false, "error": "..."}, ...],
         "seconds": {"<tool>": import and parse time}}

Each tool is imported once for all its command lines (importing vllm takes tens of seconds). Nothing here needs a
GPU, a model or a hub: parsing stops before anything loads a model config.
"""

import contextlib
import dataclasses
import enum
import functools
import importlib
import importlib.util
import inspect
import io
import json
import math
import os
import re
import sys
import time


def plain(value):
    """What the parsers produce (dataclasses, pydantic dataclasses, enums, paths) as JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


@contextlib.contextmanager
def argv_of(program, argv):
    """Some parsers read sys.argv themselves (vLLM's bench registers its subcommands by it, LMCache parses it)."""
    saved = sys.argv
    sys.argv = [program, *argv]
    try:
        yield
    finally:
        sys.argv = saved


def parse_each(requests, parse):
    """Runs `parse` on each request; a refusal becomes the parser's own message (argparse exits with status 2)."""
    results = []
    for request in requests:
        captured = io.StringIO()
        try:
            with contextlib.redirect_stderr(captured):
                values = parse(request["argv"], request.get("env", {}))
            results.append({"accepted": True, "values": values})
        except SystemExit as exit_:
            lines = [line for line in captured.getvalue().splitlines() if line.strip()]
            results.append({"accepted": False, "error": lines[-1] if lines else f"exit status {exit_.code}"})
        # Any other refusal (a config class's validation) is reported with its type, not raised.
        except Exception as error:
            results.append({"accepted": False, "error": f"{type(error).__name__}: {error}"})
    return results


def vllm_parser():
    """Built as vllm/entrypoints/cli/main.py builds it, with the two subcommands the pipeline runs."""
    from vllm.entrypoints.cli import serve
    from vllm.entrypoints.cli.benchmark import main as bench
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = FlexibleArgumentParser(description="vLLM CLI")
    subparsers = parser.add_subparsers(required=False, dest="subparser")
    commands = {}
    for module in (serve, bench):
        for command in module.cmd_init():
            command.subparser_init(subparsers).set_defaults(dispatch_function=command.cmd)
            commands[command.name] = command
    return parser, commands


def parse_vllm(argv, env):
    import vllm.envs
    from vllm.config import AttentionConfig
    from vllm.engine.arg_utils import AsyncEngineArgs

    with argv_of("vllm", argv):
        parser, commands = vllm_parser()
        args = parser.parse_args(argv)
    commands[args.subparser].validate(args)
    namespace = {key: plain(value) for key, value in vars(args).items() if key != "dispatch_function"}
    if args.subparser != "serve":
        return {"args": namespace}
    # `vllm serve MODEL`: ServeSubcommand.cmd moves the positional model over --model before the engine args
    # are made, so the engine sees what the server would load.
    if args.model_tag is not None:
        args.model = args.model_tag
    engine = AsyncEngineArgs.from_cli_args(args)
    # create_engine_config would fetch the model's config from the hub: the attention backend is validated
    # by the config class it ends up in instead.
    attention = AttentionConfig(backend=engine.attention_backend)
    # The container's environment as vLLM's envs module parses each variable it knows.
    known = vllm.envs.environment_variables
    with patched_environ(env):
        read_env = {name: known[name]() for name in env if name in known}
    kv = engine.kv_transfer_config
    connector = registered_connector_module(kv.kv_connector) if kv else None
    return {
        "args": namespace,
        "engine": plain(engine),
        "engine_defaults": {
            field.name: plain(field.default)
            for field in dataclasses.fields(AsyncEngineArgs)
            if field.default is not dataclasses.MISSING
        },
        "attention_backend": plain(attention.backend),
        "env": read_env,
        "env_unknown_to_vllm": sorted(name for name in env if name not in known),
        "kv_connector_module": connector,
        "kv_connector_reads": extra_config_keys(connector) if connector else None,
    }


def extra_config_keys(module_name):
    """The kv_connector_extra_config keys a connector module reads. KVTransferConfig takes any key, and a
    connector falls back to its default for one it does not find, so a misspelt key parses and is ignored."""
    with open(importlib.util.find_spec(module_name).origin, encoding="utf-8") as source:
        return sorted(set(re.findall(r"get_from_extra_config\(\s*\"([^\"]+)\"", source.read())))


def registered_connector_module(name):
    """The module vLLM's connector registry loads for a kv_connector name (None when the name is unknown)."""
    from vllm.distributed.kv_transfer.kv_connector.factory import KVConnectorFactory

    loader = KVConnectorFactory._registry.get(name)
    return inspect.getclosurevars(loader).nonlocals["module_path"] if loader else None


@contextlib.contextmanager
def patched_environ(env):
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@functools.cache
def task_index(include_path):
    """lm-eval's index of its task files (no data is fetched); building it takes seconds, so once per include path."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=include_path)


def parse_lm_eval(argv, _env):
    from lm_eval._cli import HarnessCLI
    from lm_eval.api.registry import get_model
    from lm_eval.config.evaluate_config import EvaluatorConfig

    with argv_of("lm_eval", argv):
        cli = HarnessCLI()
        args = cli.parse_args()
    # What `lm_eval run` does first with the parsed flags: model_args and gen_kwargs become dicts, seeds a list.
    config = EvaluatorConfig.from_cli(args)
    model_class = get_model(config.model)
    # The model's constructors swallow unknown keys (**kwargs): a misspelt key would be ignored silently.
    named = {
        name
        for klass in model_class.__mro__
        if "__init__" in vars(klass)
        for name, parameter in inspect.signature(klass.__init__).parameters.items()
        if parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL) and name != "self"
    }
    tasks = task_index(config.include_path)
    return {
        "model": config.model,
        "model_class": model_class.__name__,
        "model_args": plain(config.model_args),
        "model_args_unknown_to_model": sorted(set(config.model_args) - named),
        "gen_kwargs": plain(config.gen_kwargs),
        "tasks": config.tasks,
        "tasks_unknown_to_lm_eval": [task for task in config.tasks if not tasks.match_tasks([task])],
        "limit": config.limit,
        "seed": config.seed,
        "log_samples": config.log_samples,
        "output_path": config.output_path,
    }


# What the LMCache servers' `__main__` turn their parsed flags into, in this order.
LMCACHE_CONFIG_BUILDERS = (
    ("http", "parse_args_to_http_frontend_config"),
    ("mp", "parse_args_to_mp_server_config"),
    ("storage", "parse_args_to_config"),
    ("observability", "parse_args_to_observability_config"),
    ("coordinator", "parse_args_to_coordinator_config"),
)


LMCACHE_VLLM_CONNECTOR = "lmcache.integration.vllm.lmcache_mp_connector"


def parse_lmcache(argv, _env):
    if argv[:1] != ["-m"] or len(argv) < 2:
        raise ValueError(f"expected -m <module> ..., got {argv[:2]}")
    module = importlib.import_module(argv[1])
    with argv_of(argv[1], argv[2:]):
        args = module.parse_args()
    configs = {
        name: plain(getattr(module, builder)(args))
        for name, builder in LMCACHE_CONFIG_BUILDERS
        if hasattr(module, builder)
    }
    return {
        "module": argv[1],
        "args": plain(vars(args)),
        "configs": configs,
        # vLLM's LMCacheMPConnector is this package's own connector wherever lmcache is installed, as in the
        # LMCache image; vLLM's builtin one only without it.
        "vllm_connector_reads": extra_config_keys(LMCACHE_VLLM_CONNECTOR),
    }


PARSERS = {"vllm": parse_vllm, "lm_eval": parse_lm_eval, "python": parse_lmcache}


def main():
    requests = json.load(sys.stdin)
    output = {"seconds": {}}
    # The tools print and log while importing: only the JSON goes to stdout.
    with contextlib.redirect_stdout(sys.stderr):
        for tool, tool_requests in requests.items():
            started = time.monotonic()
            output[tool] = parse_each(tool_requests, PARSERS[tool])
            output["seconds"][tool] = round(time.monotonic() - started, 2)
    json.dump(output, sys.stdout)
    print()


if __name__ == "__main__":
    main()
