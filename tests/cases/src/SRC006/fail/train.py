"""Takes its parameters from the command line, which the platform leaves empty (SRC006)."""
import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--lr", type=float, default=0.01)
args = parser.parse_args()
for epoch in range(args.epochs):
    print(f"[Process: {epoch + 1}/{args.epochs}]", flush=True)
