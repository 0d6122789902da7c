"""HTTP for the pictures beside additional work (blueprint ``photos``, under
/api/v1): the technician's photo of a quote and the customer's signature on
an in-person approval.

Views only parse, authorise and call ``shared.services.photos`` or
``shared.services.signatures``. The two uploads are the only bodies in the API
allowed over 64 KiB: the limit is raised for that request only, to what its
content type needs for a 5 MB picture or a 512 KB signature. Staff read
pictures with their bearer token or session cookie; a customer reads only the
photos of the order its capability link belongs to (never a signature), never
cached, and a wrong link counts against the same guessing budget as the
customer page. A picture that may still be replaced (a pending quote's photo,
an open order's signature) is served for revalidation (ETag); one that can no
longer change may be kept by the browser for an hour.

Registered in the app factory like the API blueprint (CSRF-exempt: bearer
tokens need none, and ``access.require`` checks it for session cookies).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from shared.domain.errors import NotFound, ValidationFailed
from shared.domain.policy import Command
from shared.services import photos, signatures
from shared.services.auth import Principal, resolve_customer
from shared.services.commands import CommandRequest, fingerprint, validate_idempotency_key
from shared.web.access import STAFF_ROLES, core, current_principal, require
from shared.web.extensions import customer_guess_limit
from shared.web.http_commands import reply
from shared.web.parsing import json_body

blueprint = Blueprint("photos", __name__, url_prefix="/api/v1")

# Who documents additional work: the domain's quoting roles (a technician
# only on jobs dispatched to them, which the service checks).
PHOTO_WRITERS = STAFF_ROLES
PHOTO_READERS = STAFF_ROLES
# Who records the customer's decision takes their signature (the service
# also refuses a customer); every staff member may look at it.
SIGNATURE_WRITERS = Command.DECIDE_QUOTE
SIGNATURE_READERS = STAFF_ROLES
# Room for a multipart envelope or a JSON wrapper around the picture.
ENVELOPE_BYTES = 64 * 1024
BASE64_BYTES = -(-photos.MAX_PHOTO_BYTES // 3) * 4
SIGNATURE_BASE64_BYTES = -(-signatures.MAX_SIGNATURE_BYTES // 3) * 4
# A picture that can no longer change (its quote decided, its order closed).
STAFF_CACHE = "private, max-age=3600"
# One that may still be replaced: kept, but asked again (ETag) before use.
REVALIDATE = "private, no-cache"


def _principal() -> Principal:
    principal = current_principal()
    assert principal is not None  # require() refused anonymous callers
    return principal


def _decode_base64(encoded: str, field: str = "photo") -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed(field, f"{field} must be base64 (RFC 4648).") from None


def _upload() -> bytes:
    """The picture's bytes from a raw image body, a multipart field ``photo``
    or a JSON ``{"photo": base64}``. The body limit is raised before anything
    reads the body; above it werkzeug answers 413."""
    kind = request.mimetype
    if kind in photos.INPUT_TYPES:
        request.max_content_length = photos.MAX_PHOTO_BYTES
        return request.get_data(cache=False)
    if kind == "multipart/form-data":
        request.max_content_length = photos.MAX_PHOTO_BYTES + ENVELOPE_BYTES
        sent = request.files.get("photo")
        if sent is None:
            raise ValidationFailed("photo", "Send the picture in the multipart field 'photo'.")
        return bytes(sent.read(photos.MAX_PHOTO_BYTES + 1))
    if kind == "application/json":
        request.max_content_length = BASE64_BYTES + ENVELOPE_BYTES
        body = json_body()
        encoded = body.string("photo", required=True)
        body.finish()
        return _decode_base64(encoded)
    types = ", ".join(sorted(photos.INPUT_TYPES))
    raise ValidationFailed(
        "photo",
        f"Send the picture as the body ({types}), as the multipart field 'photo', "
        'or as JSON {"photo": base64}.',
    )


def _signature_upload() -> bytes:
    """The signature's bytes from a raw ``image/png`` body or a JSON
    ``{"image": base64}``; over 512 KB of picture is a 413."""
    kind = request.mimetype
    if kind in signatures.INPUT_TYPES:
        request.max_content_length = signatures.MAX_SIGNATURE_BYTES
        return request.get_data(cache=False)
    if kind == "application/json":
        request.max_content_length = SIGNATURE_BASE64_BYTES + ENVELOPE_BYTES
        body = json_body()
        encoded = body.string("image", required=True)
        body.finish()
        return _decode_base64(encoded, "image")
    raise ValidationFailed(
        "image", 'Send the signature as the body (image/png) or as JSON {"image": base64}.'
    )


def _command(principal: Principal, raw: bytes) -> CommandRequest:
    """Like ``http_commands.command_request``, but the fingerprint hashes the
    picture itself, so a replay matches however it was wrapped."""
    key = validate_idempotency_key(request.headers.get("Idempotency-Key"))
    digest = hashlib.sha256(raw).hexdigest()
    return CommandRequest(
        actor=principal.actor(),
        shop_id=principal.shop_id,
        idempotency_key=key,
        fingerprint=fingerprint(request.method, request.path, {"sha256": digest}) if key else None,
    )


def _image(stored: photos.Photo | signatures.Signature, cache_control: str) -> Response:
    response = Response(stored.data, mimetype=stored.content_type)
    response.headers["Cache-Control"] = cache_control
    response.headers["Content-Disposition"] = "inline"
    return response


def _staff_image(stored: photos.Photo | signatures.Signature) -> Response:
    """For staff: cached while it can no longer change, revalidated while it
    may still be replaced (a 304 when the browser's copy is current)."""
    response = _image(stored, STAFF_CACHE if stored.final else REVALIDATE)
    response.set_etag(stored.etag)
    response.make_conditional(request)
    return response


@blueprint.post("/orders/<int:order_id>/extra-work/<int:quote_id>/photo")
@require(PHOTO_WRITERS)
def attach(order_id: int, quote_id: int) -> ResponseReturnValue:
    principal = _principal()
    raw = _upload()
    outcome = photos.attach_photo(core(), _command(principal, raw), order_id, quote_id, raw)
    return reply(outcome)


@blueprint.get("/orders/<int:order_id>/extra-work/<int:quote_id>/photo")
@require(PHOTO_READERS)
def staff_photo(order_id: int, quote_id: int) -> ResponseReturnValue:
    stored = photos.photo_for(core(), _principal().shop_id, order_id, quote_id)
    # Replaced while its quote is pending, fixed once decided: a shared
    # cache may never keep it.
    return _staff_image(stored)


@blueprint.get("/orders/<int:order_id>/photos")
@require(PHOTO_READERS)
def staff_photos(order_id: int) -> ResponseReturnValue:
    """The order's photos and its customers' signatures, for the desk."""
    shop_id = _principal().shop_id
    found = photos.photos_of(core(), shop_id, order_id)
    listed = [{**p, "photo_url": photos.staff_photo_url(order_id, p["quote_id"])} for p in found]
    signed = signatures.signatures_of(core(), shop_id, order_id)
    return jsonify({"photos": listed, "signatures": signed})


@blueprint.put("/orders/<int:order_id>/extra-work/<int:quote_id>/signature")
@require(SIGNATURE_WRITERS)
def put_signature(order_id: int, quote_id: int) -> ResponseReturnValue:
    """Store (201) or replace (200, while the order is open) the customer's
    signature on a quote they approved in person."""
    principal = _principal()
    raw = _signature_upload()
    outcome = signatures.store_signature(core(), _command(principal, raw), order_id, quote_id, raw)
    return reply(outcome)


@blueprint.get("/orders/<int:order_id>/extra-work/<int:quote_id>/signature")
@require(SIGNATURE_READERS)
def staff_signature(order_id: int, quote_id: int) -> ResponseReturnValue:
    stored = signatures.signature_for(core(), _principal().shop_id, order_id, quote_id)
    return _staff_image(stored)


# ------------------------------------------------------------- customer


def _customer(token: str) -> Principal:
    found = resolve_customer(core(), token, core().now())
    if found is None:
        raise NotFound("This link is not valid (any more).")
    return found[0]


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def customer_photo_url(token: str, quote_id: int) -> str:
    return f"/api/v1/track/{token}/extra-work/{quote_id}/photo"


@blueprint.get("/track/<token>/extra-work/<int:quote_id>/photo")
@customer_guess_limit
def customer_photo(token: str, quote_id: int) -> ResponseReturnValue:
    principal = _customer(token)
    assert principal.order_id is not None
    stored = photos.photo_for(core(), principal.shop_id, principal.order_id, quote_id)
    return _private(_image(stored, "no-store"))


@blueprint.get("/track/<token>/photos")
@customer_guess_limit
def customer_photos(token: str) -> ResponseReturnValue:
    principal = _customer(token)
    assert principal.order_id is not None
    found = photos.photos_of(core(), principal.shop_id, principal.order_id)
    listed = [
        {
            "quote_id": p["quote_id"],
            "width": p["width"],
            "height": p["height"],
            "photo_url": customer_photo_url(token, p["quote_id"]),
        }
        for p in found
    ]
    return _private(jsonify({"photos": listed}))


# ------------------------------------------------------------- OpenAPI


def _json(description: str, schema: dict[str, Any], *, replayable: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if replayable:
        response["headers"] = {"Idempotent-Replayed": {"$ref": "#/components/headers/Replayed"}}
    return response


def openapi_paths() -> dict[str, Any]:
    """This blueprint's operations, for ``shared.web.openapi.document``."""
    from shared.web import openapi as oa

    order_id = {"$ref": "#/components/parameters/OrderId"}
    quote_id = {"$ref": "#/components/parameters/QuoteId"}
    token = {"$ref": "#/components/parameters/CustomerToken"}
    jpeg = {
        "content": {"image/jpeg": {"schema": {"type": "string", "contentMediaType": "image/jpeg"}}}
    }
    png = {
        "content": {"image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}}}
    }
    binary: dict[str, Any] = {"type": "string", "contentMediaType": "image/*"}
    not_modified = {
        "description": "Not modified: the copy the browser holds (If-None-Match) is current."
    }
    upload = oa.operation(
        "attachQuotePhoto",
        "Attach the photo of a pending additional-work quote, or replace it",
        "extra-work",
        {
            201: _json(
                "The stored photo (re-encoded JPEG).", oa.ref("PhotoAttached"), replayable=True
            )
        },
        errors=oa.STAFF_WRITE_ERRORS,
        security=oa.WRITE_SECURITY,
        parameters=[order_id, quote_id],
        body="PhotoUpload",
        idempotent=True,
        description="Roles: admin, manager, advisor, foreman, technician (only on orders "
        "dispatched to them). The body is the picture itself (image/jpeg, image/png, "
        "image/webp; HEIC when the server has pillow-heif), the multipart field `photo`, or "
        'JSON {"photo": base64}; at most 5 MB of picture. It is stored re-encoded as JPEG, '
        "at most 1600 px, upright, without EXIF/GPS. A quote has one photo: while the quote "
        "is pending a new one replaces it (`revision` counts up); 409 quote_locked once the "
        "customer decided, quote_expired once the quote expired; 422 validation_error "
        "(field photo) for anything that is not a readable picture.",
    )
    upload["requestBody"]["content"].update(
        {
            **{kind: {"schema": binary} for kind in ("image/jpeg", "image/png", "image/webp")},
            "multipart/form-data": {"schema": oa.obj({"photo": binary})},
        }
    )
    stored_signature = _json(
        "The stored signature (re-encoded greyscale PNG).",
        oa.ref("SignatureStored"),
        replayable=True,
    )
    signature_upload = oa.operation(
        "putQuoteSignature",
        "Store the customer's signature on additional work approved in person",
        "extra-work",
        {
            201: stored_signature,
            200: {**stored_signature, "description": "The signature replaced the quote's one."},
        },
        errors=oa.STAFF_WRITE_ERRORS,
        security=oa.WRITE_SECURITY,
        parameters=[order_id, quote_id],
        body="SignatureUpload",
        idempotent=True,
        description="Roles: admin, manager, advisor (who record decisions; never a "
        "customer). The body is the PNG itself (image/png) or JSON "
        '{"image": base64}; at most '
        f"{signatures.MAX_SIGNATURE_BYTES // 1024} KB. It is stored re-encoded as a "
        f"greyscale PNG on white, at most {signatures.MAX_SIGNATURE_SIDE} px. One signature "
        "a quote: 201 when stored, 200 when it replaced the quote's signature (allowed while "
        "the order is open). 409 signature_not_allowed unless the quote was approved with "
        "channel in_person, signature_locked once the order is delivered or cancelled; 422 "
        "validation_error (field image) for anything that is not a readable PNG, or a blank "
        "one.",
    )
    signature_upload["requestBody"]["content"]["image/png"] = {
        "schema": {"type": "string", "contentMediaType": "image/png"}
    }
    return {
        f"{oa.API}/orders/{{order_id}}/extra-work/{{quote_id}}/photo": {
            "post": upload,
            "get": oa.operation(
                "getQuotePhoto",
                "The photo of a quote",
                "extra-work",
                {
                    200: {
                        "description": "The picture (private; cacheable 1 h once its quote "
                        "is decided, revalidated by ETag while it may still be replaced).",
                        **jpeg,
                    },
                    304: not_modified,
                },
                errors=(401, 403, 404, 429),
                parameters=[order_id, quote_id],
            ),
        },
        f"{oa.API}/orders/{{order_id}}/extra-work/{{quote_id}}/signature": {
            "put": signature_upload,
            "get": oa.operation(
                "getQuoteSignature",
                "The customer's signature on a quote approved in person",
                "extra-work",
                {
                    200: {
                        "description": "The signature (private; revalidated by ETag while "
                        "the order is open, cacheable 1 h once it is closed).",
                        **png,
                    },
                    304: not_modified,
                },
                errors=(401, 403, 404, 429),
                parameters=[order_id, quote_id],
                description="Staff only; a customer's link never reaches it.",
            ),
        },
        f"{oa.API}/orders/{{order_id}}/photos": {
            "get": oa.operation(
                "listQuotePhotos",
                "Which quotes of an order have a photo, and which a signature",
                "extra-work",
                {
                    200: _json(
                        "Quotes of the order that have a photo or a signature.",
                        oa.ref("StaffPhotoList"),
                    )
                },
                errors=(401, 403, 404, 429),
                parameters=[order_id],
            )
        },
        f"{oa.API}/track/{{token}}/extra-work/{{quote_id}}/photo": {
            "get": oa.operation(
                "getQuotePhotoAsCustomer",
                "The photo of a quote on the customer's own order",
                "customer",
                {200: {"description": "The picture (never cached).", **jpeg}},
                errors=(404, 429),
                security=oa.PUBLIC,
                parameters=[token, quote_id],
            )
        },
        f"{oa.API}/track/{{token}}/photos": {
            "get": oa.operation(
                "listQuotePhotosAsCustomer",
                "Which quotes of the customer's own order have a photo",
                "customer",
                {200: _json("Quotes of the order that have a photo.", oa.ref("PhotoList"))},
                errors=(404, 429),
                security=oa.PUBLIC,
                parameters=[token],
            )
        },
    }


def openapi_schemas() -> dict[str, Any]:
    """Schemas of this blueprint's bodies, for ``components.schemas``."""
    from shared.web import openapi as oa

    url = {"type": "string", "maxLength": 300}
    photo_side = oa.integer(maximum=photos.MAX_SIDE)
    signature_side = oa.integer(maximum=signatures.MAX_SIGNATURE_SIDE)
    revision = oa.integer("One up each time the picture is replaced.", minimum=1)
    return {
        "PhotoUpload": oa.obj(
            {
                "photo": {
                    "type": "string",
                    "contentEncoding": "base64",
                    "maxLength": BASE64_BYTES,
                    "description": "The picture, base64 (JSON form of the upload).",
                }
            }
        ),
        "PhotoAttached": oa.obj(
            {
                "order_id": oa.integer(),
                "quote_id": oa.integer(),
                "photo_url": url,
                "content_type": {"type": "string", "const": photos.STORED_TYPE},
                "width": photo_side,
                "height": photo_side,
                "bytes": oa.integer(),
                "revision": revision,
            }
        ),
        "PhotoList": oa.obj(
            {
                "photos": oa.array(
                    oa.obj(
                        {
                            "quote_id": oa.integer(),
                            "width": photo_side,
                            "height": photo_side,
                            "photo_url": url,
                        }
                    )
                )
            }
        ),
        "StaffPhotoList": oa.obj(
            {
                "photos": oa.array(
                    oa.obj(
                        {
                            "quote_id": oa.integer(),
                            "width": photo_side,
                            "height": photo_side,
                            "revision": revision,
                            "photo_url": url,
                        }
                    )
                ),
                "signatures": oa.array(
                    oa.obj(
                        {
                            "quote_id": oa.integer(),
                            "quote_version": oa.integer(
                                "The quote version the customer approved and signed.", minimum=1
                            ),
                            "width": signature_side,
                            "height": signature_side,
                            "revision": revision,
                            "signature_url": url,
                        }
                    )
                ),
            }
        ),
        "SignatureUpload": oa.obj(
            {
                "image": {
                    "type": "string",
                    "contentEncoding": "base64",
                    "contentMediaType": "image/png",
                    "maxLength": SIGNATURE_BASE64_BYTES,
                    "description": "The signature, a PNG, base64 (JSON form of the upload).",
                }
            }
        ),
        "SignatureStored": oa.obj(
            {
                "order_id": oa.integer(),
                "quote_id": oa.integer(),
                "url": url,
                "quote_version": oa.integer(
                    "The quote version the customer approved and signed.", minimum=1
                ),
                "content_type": {"type": "string", "const": signatures.STORED_TYPE},
                "width": signature_side,
                "height": signature_side,
                "bytes": oa.integer(),
                "revision": revision,
            }
        ),
    }
