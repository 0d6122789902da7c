import json
from typing import Any
import requests
from .sockets import Api

def test_probe(live: Any) -> None:
    server, shop = live
    api = Api(server.url, shop.tokens)
    order = api.assign(api.create(plate="粤B12345"), "B01", [shop.technicians[0]])
    oid = order["id"]
    big = 10**30
    probes = [
        ("GET", "/orders/99999999999999999999", None),
        ("POST", f"/orders/{oid}/transitions", {"to": "in_progress", "version": big}),
        ("PUT", f"/orders/{oid}/assignment", {"bay": "B01", "technicians": [big], "version": order["version"]}),
        ("POST", "/orders", {"plate": "粤B1234", "vehicle": {"mileage": big}}),
        ("POST", f"/orders/99999999999999999999/transitions", {"to": "in_progress", "version": 1}),
        ("POST", f"/orders/{oid}/extra-work/99999999999999999999/decision", {"approved": True, "quote_version": 1}),
        ("GET", "/events?after=99999999999999999999", None),
        ("POST", f"/orders/{oid}/transitions", {"to": "paused", "version": order["version"]}),
        ("POST", f"/orders/{oid}/transitions", {"to": "in_progress", "version": order["version"], "reason": 5}),
        ("POST", "/orders", {"plate": "粤B1234", "items": [{"labour_hours": 1}]}),
        ("POST", "/orders", {"plate": "粤B1234", "priority": "urgent"}),
        ("DELETE", f"/orders/{oid}", None),
        ("GET", "/nope", None),
    ]
    for method, path, body in probes:
        r = api.call(method, path, body=body)
        print(method, path, r.status_code, r.headers.get("Content-Type"), r.text[:200])
    h = {"Authorization": f"Bearer {shop.tokens['admin']}", "Content-Type": "application/json"}
    for name, data in [("nested", b"[" * 30000 + b"]" * 30000), ("nan", b'{"plate":"\xe7\xb2\xa4B1234","items":[{"title":"a","labour_hours":NaN}]}'), ("badutf8", b'{"plate":"\xff"}')]:
        r = requests.post(f"{server.url}/api/v1/orders", data=data, headers=h, timeout=10)
        print(name, r.status_code, r.headers.get("Content-Type"), r.text[:200])
    h2 = dict(h); h2["Idempotency-Key"] = "ключ".encode().decode("latin-1")
    r = requests.post(f"{server.url}/api/v1/orders", data=b'{"plate":"AB1234"}', headers={k: v.encode("latin-1") if k=="Idempotency-Key" else v for k,v in h2.items()}, timeout=10)
    print("nonascii key", r.status_code, r.text[:200])
    print(open(server.log).read()[-3000:])
