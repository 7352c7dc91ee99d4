"""``python -m mobco2`` runs the command line."""

from mobco2_cli.main import run

if __name__ == "__main__":
    run()
