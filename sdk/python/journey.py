"""Drives a live Agora through its main journeys with the Python client that
openapi-python-client generated from the served OpenAPI document: what a user of the SDK
would write. scripts/sdk.sh generates the client (package `agora_client`) and runs this.

    journey.py BASE_URL CLIENT_DIR ADMIN_EMAIL ADMIN_PASSWORD
"""

import io
import sys
import time
import uuid

base_url, client_dir, admin_email, admin_password = sys.argv[1:5]
sys.path.insert(0, client_dir)

from agora_client import AuthenticatedClient, Client  # noqa: E402
from agora_client.api.auth import get_current_user, log_in, refresh_tokens, register_user  # noqa: E402
from agora_client.api.catalog import create_category, create_product_with_image, list_products, list_stores  # noqa: E402
from agora_client.api.locations import create_location, reverse_geocode  # noqa: E402
from agora_client.api.mail import (  # noqa: E402
    create_contact,
    create_email_template,
    get_email,
    list_contacts,
    preview_email_template,
    send_email,
)
from agora_client.api.notifications import (  # noqa: E402
    get_notification_preferences,
    get_unread_notification_count,
    list_notifications,
    mark_all_notifications_read,
    update_notification_preferences,
)
from agora_client.api.orders import change_order_status, create_address, get_order, place_order  # noqa: E402
from agora_client.models import (  # noqa: E402
    AddressInput,
    CategoryInput,
    ContactInput,
    EmailPreviewRequest,
    EmailPreviewRequestVariables,
    EmailStatus,
    EmailTemplateInput,
    LocationInput,
    LoginRequest,
    OrderLine,
    OrderStatus,
    PlaceOrder,
    PreferencesUpdate,
    PreferencesUpdateChannels,
    ProductForm,
    ProductInput,
    ProductInputCurrency,
    QuietHours,
    RefreshRequest,
    RegisterRequest,
    SendRequest,
    StatusChange,
)
from agora_client.types import File  # noqa: E402

PASSWORD = "journey passphrase 42"
# The smallest PNG header the server's content sniffing recognises.
PNG = bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52,
             0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0])


def step(name):
    print(f"  {name}", flush=True)


def ok(response, status):
    """The parsed body of a response that must have `status`."""
    assert response.status_code == status, f"{response.status_code}: {response.content!r}"
    return response.parsed


def eventually(what, check, patience=60):
    deadline = time.monotonic() + patience
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)


def signed_in(email, password=PASSWORD):
    pair = ok(log_in.sync_detailed(client=anonymous, body=LoginRequest(email=email, password=password)), 200)
    return AuthenticatedClient(base_url=base_url, token=pair.access_token, raise_on_unexpected_status=True)


def register(email, name):
    body = RegisterRequest(email=email, password=PASSWORD, name=name)
    created = ok(register_user.sync_detailed(client=anonymous, body=body), 201)
    assert created.user.email == email
    return created


run = uuid.uuid4().hex[:8]
print("python client journeys")

step("register, log in, refresh")
seller_email = f"seller-{run}@journey.test"
seller = register(seller_email, "Sally Seller")
pair = ok(log_in.sync_detailed(client=anonymous, body=LoginRequest(email=seller_email, password=PASSWORD)), 200)
renewed = ok(refresh_tokens.sync_detailed(client=anonymous, body=RefreshRequest(refresh_token=pair.refresh_token)), 200)
assert renewed.refresh_token != pair.refresh_token
shop = AuthenticatedClient(base_url=base_url, token=renewed.access_token, raise_on_unexpected_status=True)
me = ok(get_current_user.sync_detailed(client=shop), 200)
assert me.id == seller.user.id

step("the store made for a new account, a category")
store = eventually("the seller's store", lambda: (ok(list_stores.sync_detailed(client=shop), 200).data or [None])[0])
admin = signed_in(admin_email, admin_password)
category = ok(create_category.sync_detailed(client=admin, body=CategoryInput(name=f"Mugs {run}")), 201)

step("a product with its image in one multipart request")
product_input = ProductInput(store_id=store.id, name="Blue mug", sku=f"MUG-{run}", price=1299,
                             currency=ProductInputCurrency.EUR, stock=5, category_id=category.id)
form = ProductForm(product=product_input, image=File(payload=io.BytesIO(PNG), file_name="mug.png", mime_type="image/png"))
product = ok(create_product_with_image.sync_detailed(client=shop, body=form), 201)
assert len(product.images) == 1

step("a filtered listing")
page = ok(list_products.sync_detailed(client=anonymous, search=f"mug-{run}", category_id=category.id,
                                      min_price=1000, max_price=2000, in_stock=True), 200)
assert [p.id for p in page.data] == [product.id], page
assert page.pagination.total == 1

step("an address, an order with an Idempotency-Key, its replay, its status")
buyer_email = f"buyer-{run}@journey.test"
register(buyer_email, "Bob Buyer")
buyer = signed_in(buyer_email)
address = ok(create_address.sync_detailed(client=buyer, body=AddressInput(
    label="Home", recipient="Bob Buyer", street="1 Main Street", city="Springfield", postal_code="12345", country="US")), 201)
order_body = PlaceOrder(address_id=address.id, items=[OrderLine(product_id=product.id, quantity=2)])
key = f"order-{run}"
first = place_order.sync_detailed(client=buyer, body=order_body, idempotency_key=key)
order = ok(first, 201)
assert order.total == 2598 and order.status == OrderStatus.PENDING_PAYMENT
again = place_order.sync_detailed(client=buyer, body=order_body, idempotency_key=key)
assert again.headers.get("idempotent-replayed") == "true"
assert ok(again, 201).id == order.id
cancelled = ok(change_order_status.sync_detailed(order.id, client=buyer, body=StatusChange(status=OrderStatus.CANCELLED, reason="changed my mind")), 200)
assert cancelled.status == OrderStatus.CANCELLED
assert ok(get_order.sync_detailed(order.id, client=buyer), 200).status == OrderStatus.CANCELLED

step("an email sent and delivered, a template previewed, a contact")
accepted = ok(send_email.sync_detailed(client=shop, body=SendRequest(
    to=["Ada Lovelace <ada@example.com>"], subject="Hello from the SDK", text="Plain text.")), 202)
sent = eventually("the email to be sent", lambda: (lambda e: e if e.status == EmailStatus.SENT else None)(
    ok(get_email.sync_detailed(accepted.id, client=shop), 200)))
assert sent.subject == "Hello from the SDK"
template = ok(create_email_template.sync_detailed(client=admin, body=EmailTemplateInput(
    name=f"shipped_{run}", subject="Order {{ order_ref }} shipped", text="Hello {{ name }}.")), 201)
variables = EmailPreviewRequestVariables.from_dict({"order_ref": "A1B2", "name": "Ada"})
preview = ok(preview_email_template.sync_detailed(template.id, client=admin, body=EmailPreviewRequest(variables=variables)), 200)
assert preview.subject == "Order A1B2 shipped" and preview.text == "Hello Ada.", preview
contact = ok(create_contact.sync_detailed(client=shop, body=ContactInput(name="Ada Lovelace", email="ada@example.com")), 201)
assert contact.id in [c.id for c in ok(list_contacts.sync_detailed(client=shop), 200).data]

step("a saved place with its address, reverse geocoding")
place = ok(create_location.sync_detailed(client=shop, body=LocationInput(name="Office", lat=48.8566, lon=2.3522)), 201)
assert place.address and place.address.country_code == "fr", place
geocoded = ok(reverse_geocode.sync_detailed(51.5034, -0.1276, client=shop), 200)
assert geocoded.address.country_code == "gb", geocoded

step("notifications and preferences")
inbox = eventually("the welcome notification", lambda: ok(list_notifications.sync_detailed(client=shop), 200).data)
assert any(n.event_type == "account.welcome" for n in inbox), inbox
assert ok(get_unread_notification_count.sync_detailed(client=shop), 200).unread >= 1
ok(mark_all_notifications_read.sync_detailed(client=shop), 200)
assert ok(get_unread_notification_count.sync_detailed(client=shop), 200).unread == 0
channels = PreferencesUpdateChannels.from_dict({"marketing": {"email": True}})
updated = ok(update_notification_preferences.sync_detailed(client=shop, body=PreferencesUpdate(
    channels=channels, quiet_hours=QuietHours(start="22:00", end="07:00", time_zone="Europe/Berlin"))), 200)
assert updated.quiet_hours.start == "22:00"
stored = ok(get_notification_preferences.sync_detailed(client=shop), 200)
assert stored.channels.additional_properties["marketing"]["email"] is True, stored

print("python client journeys: all passed")
