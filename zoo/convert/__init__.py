"""Published checkpoints into zoo runs and back out (GPT-2 and BERT; see the
README's "Using published checkpoints").

    source = read_source("downloads/gpt2")   # a Hugging Face, keras-hub, OpenAI or Google folder
    write_run(source, "runs/gpt2")                  # an ordinary run directory
    write_huggingface(load_run("runs/gpt2-ft"), "out/gpt2-ft")

Every format is read into one `Source`: the family's tensors under Hugging Face's names, its
Hugging Face config and the tokenizer. A family module (`gpt2`, `bert`) maps those onto the zoo's
backbone and back, so each format is written once and each family once.
"""

from zoo.convert.formats import FORMATS, detect_format, read_source
from zoo.convert.huggingface import write_huggingface
from zoo.convert.run_writer import write_run
from zoo.convert.source import Source, SourceError

__all__ = ["FORMATS", "Source", "SourceError", "detect_format", "read_source",
           "write_huggingface", "write_run"]
