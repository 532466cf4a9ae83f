"""The shop: the sample app's quoting rules as three small services that call each
other over HTTP, for lab 06 (tracing). ``orders`` takes an order and asks
``pricing`` for its price; ``pricing`` asks ``inventory`` about each item's stock;
``inventory`` answers from its own database. ``python -m shop SERVICE`` runs one.

Two problems are planted for the lab to find from the traces:
- a bottleneck: pricing asks inventory once per item (``pricing.look_up_stock``),
  where inventory can answer for a whole order in one call (``GET /stock?items=``);
  ``tools/fix_bottleneck.py`` shows the fix;
- an intermittent fault: inventory's database connection drops on one request in
  ``INVENTORY_FAULT_EVERY`` (default 9), and the error travels up as a 5xx.
"""
