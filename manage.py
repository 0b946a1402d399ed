#!/usr/bin/env python
from linli.cli import main

main()
