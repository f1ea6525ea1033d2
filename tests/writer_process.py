"""A separate writer process for the concurrency and crash tests: writes batches, announcing each commit."""

import sys

from helpers import batch, prompt, store_batch

from cotfactory.storage import Store


def main() -> None:
    db, first, count, size, text_bytes = sys.argv[1], *map(int, sys.argv[2:6])
    store = Store(db)
    store.add_prompts([prompt(i) for i in range((first + count) * size)])
    print("ready", flush=True)
    for number in range(first, first + count):
        store_batch(store, *batch(number, size, text_bytes=text_bytes))
        print(f"committed {number}", flush=True)


if __name__ == "__main__":
    main()
