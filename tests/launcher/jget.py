#!/usr/bin/python3
# jget.py JSON PATH: print the member at PATH (a.b.0.c); JSON text for
# objects/arrays/null/booleans, plain text for strings and numbers.
# Exit 1 if the path does not exist or the text is not JSON.
import json
import sys

try:
    v = json.loads(sys.argv[1])
    for key in sys.argv[2].split('.') if sys.argv[2] else []:
        v = v[int(key)] if isinstance(v, list) else v[key]
except (ValueError, KeyError, IndexError, TypeError):
    sys.exit(1)
print(v if isinstance(v, (str, int)) and not isinstance(v, bool)
      else json.dumps(v))
