"""A stand-in for Tapcart: realistic app sessions posted to the receiver, one event per POST.

One module per job: `catalog` (the shops and their customers' devices),
`sessions` (what users do, pure and seeded), `insights` and `clickstream`
(the bodies of the two envelopes), `envelopes` (which one, and id
surgery), `faults` (duplicate deliveries and malformed bodies), `stream`
(all of those composed), `sender` (the HTTP client with retries and
pacing), `report` (the outcome of every delivery) and `cli`
(`python -m simulator`).
"""
