// The shop: browsing with search, filters and sort; a product and its checkout; the
// seller's store and products (with images); categories (administrators); addresses.
import { useState } from "preact/hooks";
import { del, get, patch, post, put, query, Problem } from "../api";
import type { Page } from "../api";
import { useAuth } from "../auth";
import * as cart from "../cart";
import { Link, navigate } from "../router";
import type { Address, Category, Product, Store } from "../types";
import { Check, Field, Loaded, PageTitle, Pager, ProblemBanner, Select, minorDigits, money, onSubmit, toMinor, useResource, useSubmit } from "../ui";

const CURRENCIES = ["EUR", "USD", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "JPY", "CAD", "AUD"];

function useCategories() {
  return useResource(() => get<Page<Category>>("categories?limit=100"), []);
}

function Thumb({ p }: { p: Product }) {
  return p.images[0] ? <img class="thumb" src={`/uploads/${p.images[0]}`} alt={p.name} width={160} height={120} loading="lazy" /> : <div class="thumb placeholder" aria-hidden="true" />;
}

export function Shop() {
  const categories = useCategories();
  const [f, setF] = useState({ search: "", category_id: "", min: "", max: "", in_stock: false, sort: "created_at", order: "desc" });
  const [applied, setApplied] = useState(f);
  const [page, setPage] = useState(1);
  const cents = (v: string) => (v.trim() ? Math.round(Number(v.replace(",", ".")) * 100) : undefined);
  const list = useResource(() => get<Page<Product>>(`products${query({
    search: applied.search, category_id: applied.category_id, min_price: cents(applied.min), max_price: cents(applied.max),
    in_stock: applied.in_stock || undefined, sort: applied.sort, order: applied.order, page, limit: 24,
  })}`), [applied, page]);
  const set = (k: keyof typeof f) => (v: string) => setF({ ...f, [k]: v });
  return (
    <section>
      <PageTitle>Shop</PageTitle>
      <form class="filters" role="search" onSubmit={onSubmit(() => { setPage(1); setApplied(f); })}>
        <Field label="Search" name="search" type="search" value={f.search} onValue={set("search")} />
        <Select label="Category" name="category_id" value={f.category_id} onValue={set("category_id")}>
          <option value="">All</option>
          {categories.data?.data.map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
        </Select>
        <Field label="Min price" name="min_price" inputMode="decimal" value={f.min} onValue={set("min")} problem={list.problem} />
        <Field label="Max price" name="max_price" inputMode="decimal" value={f.max} onValue={set("max")} problem={list.problem} />
        <Select label="Sort by" name="sort" value={f.sort} onValue={set("sort")}>
          <option value="created_at">Newest</option><option value="price">Price</option><option value="name">Name</option>
        </Select>
        <Select label="Order" name="order" value={f.order} onValue={set("order")}>
          <option value="desc">Descending</option><option value="asc">Ascending</option>
        </Select>
        <Check label="In stock only" name="in_stock" checked={f.in_stock} onChange={(v) => setF({ ...f, in_stock: v })} />
        <button>Apply</button>
      </form>
      <Loaded r={list} empty={(p) => p.data.length === 0} emptyText="No products match.">
        {(p) => (
          <>
            <ul class="cards">
              {p.data.map((x) => (
                <li key={x.id} class="card">
                  <Thumb p={x} />
                  <Link href={`/shop/products/${x.id}`}>{x.name}</Link>
                  <span>{money(x.price, x.currency)}</span>
                  <span class="muted">{x.stock > 0 ? `${x.stock} in stock` : "Sold out"}</span>
                </li>
              ))}
            </ul>
            <Pager {...p.pagination} onPage={setPage} />
          </>
        )}
      </Loaded>
    </section>
  );
}

export function ProductPage({ id }: { id: string }) {
  const product = useResource(() => get<Product>(`products/${id}`), [id]);
  const [quantity, setQuantity] = useState("1");
  const [added, setAdded] = useState(false);
  return (
    <section>
      <Loaded r={product}>
        {(p) => (
          <>
            <PageTitle>{p.name}</PageTitle>
            <div class="product">
              <div class="gallery">{p.images.map((img) => <img key={img} src={`/uploads/${img}`} alt={p.name} width={320} height={240} />)}</div>
              <div>
                <p class="price">{money(p.price, p.currency)}</p>
                <p>{p.description}</p>
                <p class="muted">SKU {p.sku} · {p.stock > 0 ? `${p.stock} in stock` : "Sold out"}</p>
                {p.stock > 0 && (
                  <form onSubmit={onSubmit(() => {
                    if (!cart.fits(p) && !confirm("Your cart holds another store's products; an order comes from one store. Start a new cart?")) return;
                    cart.add(p, Number(quantity) || 1);
                    setAdded(true);
                  })} class="inline-form">
                    <Field label="Quantity" name="quantity" type="number" min="1" max={String(p.stock)} value={quantity} onValue={setQuantity} />
                    <button class="primary">Add to cart</button>
                    {added && <span role="status">Added. <Link href="/checkout">Go to checkout</Link></span>}
                  </form>
                )}
              </div>
            </div>
          </>
        )}
      </Loaded>
    </section>
  );
}

/** The caller's own stores (an administrator's list holds everyone's). */
export function useMyStores() {
  const { user } = useAuth();
  return useResource(async () => (await get<Page<Store>>("stores?limit=100")).data.filter((s) => s.owner_id === user?.id), [user?.id]);
}

/** The caller's own addresses (an administrator's list holds everyone's). */
function useOwnAddresses() {
  const { user } = useAuth();
  return useResource(async () => {
    const page = await get<Page<Address>>("addresses?limit=100");
    return { ...page, data: page.data.filter((a) => !a.owner_id || a.owner_id === user?.id) };
  }, [user?.id]);
}

const NO_ADDRESS = { label: "", recipient: "", phone: "", street: "", city: "", state: "", postal_code: "", country: "" };

function AddressForm({ address, onSaved, onCancel }: { address?: Address; onSaved: (a: Address) => void; onCancel?: () => void }) {
  const [f, setF] = useState(address ? { ...NO_ADDRESS, ...address, phone: address.phone ?? "", state: address.state ?? "" } : NO_ADDRESS);
  const set = (k: keyof typeof NO_ADDRESS) => (v: string) => setF({ ...f, [k]: v });
  const s = useSubmit(async () => {
    const body = { label: f.label, recipient: f.recipient, street: f.street, city: f.city, postal_code: f.postal_code, country: f.country.toUpperCase(), phone: f.phone || null, state: f.state || null };
    onSaved(address ? await put<Address>(`addresses/${address.id}`, body) : await post<Address>("addresses", body));
  });
  const fields = Object.keys(NO_ADDRESS);
  return (
    <form onSubmit={onSubmit(s.run)} noValidate class="grid-form" aria-label={address ? "Edit address" : "New address"}>
      <ProblemBanner problem={s.problem} fields={fields} />
      <Field label="Label" name="label" value={f.label} onValue={set("label")} problem={s.problem} placeholder="Home" />
      <Field label="Recipient" name="recipient" autocomplete="name" value={f.recipient} onValue={set("recipient")} problem={s.problem} />
      <Field label="Street" name="street" autocomplete="street-address" value={f.street} onValue={set("street")} problem={s.problem} />
      <Field label="City" name="city" autocomplete="address-level2" value={f.city} onValue={set("city")} problem={s.problem} />
      <Field label="Postal code" name="postal_code" autocomplete="postal-code" value={f.postal_code} onValue={set("postal_code")} problem={s.problem} />
      <Field label="Country (2 letters)" name="country" autocomplete="country" maxLength={2} value={f.country} onValue={set("country")} problem={s.problem} />
      <Field label="State (optional)" name="state" value={f.state} onValue={set("state")} problem={s.problem} />
      <Field label="Phone (optional)" name="phone" type="tel" value={f.phone} onValue={set("phone")} problem={s.problem} />
      <div class="actions"><button class="primary" disabled={s.busy}>Save address</button>{onCancel && <button type="button" onClick={onCancel}>Cancel</button>}</div>
    </form>
  );
}

export function Addresses() {
  const list = useOwnAddresses();
  const [editing, setEditing] = useState<Address | "new" | null>(null);
  return (
    <section>
      <PageTitle actions={<button type="button" class="primary" onClick={() => setEditing("new")}>New address</button>}>Addresses</PageTitle>
      {editing && <AddressForm address={editing === "new" ? undefined : editing} onCancel={() => setEditing(null)} onSaved={() => { setEditing(null); list.reload(true); }} />}
      <Loaded r={list} empty={(p) => p.data.length === 0} emptyText="No addresses yet.">
        {(p) => (
          <ul class="list">
            {p.data.map((a) => (
              <li key={a.id}>
                <strong>{a.label}</strong>: {a.recipient}, {a.street}, {a.postal_code} {a.city}, {a.country}{" "}
                <button type="button" onClick={() => setEditing(a)}>Edit<span class="sr-only"> {a.label}</span></button>{" "}
                <button type="button" class="danger" onClick={async () => { await del(`addresses/${a.id}`); list.reload(true); }}>Delete<span class="sr-only"> {a.label}</span></button>
              </li>
            ))}
          </ul>
        )}
      </Loaded>
    </section>
  );
}

export function Checkout() {
  const items = cart.useCart();
  const addresses = useOwnAddresses();
  const [addressId, setAddressId] = useState("");
  const [note, setNote] = useState("");
  const [adding, setAdding] = useState(false);
  // One key per checkout, so a retried click never orders twice.
  const [key] = useState(() => crypto.randomUUID());
  const chosen = addressId || addresses.data?.data[0]?.id || "";
  const place = useSubmit(async () => {
    const order = await post<{ id: string }>("orders", {
      address_id: chosen, items: items.map((l) => ({ product_id: l.product_id, quantity: l.quantity })), note: note || null,
    }, { headers: { "idempotency-key": key } });
    cart.clear();
    navigate(`/orders/${order.id}`);
  });
  if (items.length === 0) {
    return <section><PageTitle>Checkout</PageTitle><p class="empty">Your cart is empty. <Link href="/shop">Browse the shop</Link></p></section>;
  }
  const currency = items[0].currency;
  return (
    <section>
      <PageTitle>Checkout</PageTitle>
      <form onSubmit={onSubmit(place.run)} noValidate class="wide-form">
        <ProblemBanner problem={place.problem} fields={["address_id", "note"]} />
        <table>
          <thead><tr><th scope="col">Product</th><th scope="col">Price</th><th scope="col">Quantity</th><th scope="col">Subtotal</th></tr></thead>
          <tbody>
            {items.map((l) => (
              <tr key={l.product_id}>
                <td><Link href={`/shop/products/${l.product_id}`}>{l.name}</Link></td>
                <td>{money(l.price, l.currency)}</td>
                <td>
                  <label class="sr-only" for={`qty-${l.product_id}`}>Quantity of {l.name}</label>
                  <input id={`qty-${l.product_id}`} class="narrow-input" type="number" min="0" value={l.quantity}
                    onChange={(e) => cart.setQuantity(l.product_id, Number((e.currentTarget as HTMLInputElement).value) || 0)} />
                </td>
                <td>{money(l.price * l.quantity, l.currency)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {place.problem?.field("items") && <p class="field-error">{place.problem.field("items")}</p>}
        <p>Total: <strong>{money(items.reduce((sum, l) => sum + l.price * l.quantity, 0), currency)}</strong> (the store confirms prices when the order is placed)</p>
        <Loaded r={addresses}>
          {(a) => a.data.length === 0 && !adding ? <p class="empty">You have no address yet. <button type="button" onClick={() => setAdding(true)}>Add one</button></p> : (
            <Select label="Ship to" name="address_id" value={chosen} onValue={setAddressId} problem={place.problem}>
              {a.data.map((x) => <option key={x.id} value={x.id}>{x.label}: {x.street}, {x.city}</option>)}
            </Select>
          )}
        </Loaded>
        {!adding && addresses.data?.data.length ? <button type="button" onClick={() => setAdding(true)}>Add another address</button> : null}
        <Field label="Note for the seller (optional)" name="note" value={note} onValue={setNote} problem={place.problem} />
        <button class="primary" disabled={place.busy || !chosen}>Place order</button>
      </form>
      {adding && <AddressForm onCancel={() => setAdding(false)} onSaved={(a) => { setAdding(false); setAddressId(a.id); addresses.reload(true); }} />}
    </section>
  );
}

function ProductForm({ store, categories, onSaved }: { store: Store; categories: Category[]; onSaved: () => void }) {
  const empty = { name: "", sku: "", description: "", price: "", currency: "EUR", stock: "0", category_id: "" };
  const [f, setF] = useState(empty);
  const [image, setImage] = useState<File | null>(null);
  const set = (k: keyof typeof empty) => (v: string) => setF({ ...f, [k]: v });
  const s = useSubmit(async () => {
    const product = {
      store_id: store.id, name: f.name, sku: f.sku, description: f.description, currency: f.currency,
      price: toMinor(f.price, f.currency), stock: Number(f.stock), category_id: f.category_id || null,
    };
    if (Number.isNaN(product.price)) throw new Problem(422, "Invalid fields", "", [{ field: "price", message: `enter an amount such as 12.${"0".repeat(minorDigits(f.currency))}` }]);
    const form = new FormData();
    form.append("product", JSON.stringify(product));
    if (image) form.append("image", image, image.name);
    await post("products/with-image", form);
    setF(empty);
    setImage(null);
    onSaved();
  });
  const fields = ["name", "sku", "description", "price", "currency", "stock", "category_id", "image", "product.name", "product.sku"];
  return (
    <form onSubmit={onSubmit(s.run)} noValidate class="grid-form" aria-label="New product">
      <ProblemBanner problem={s.problem} fields={fields} />
      <Field label="Name" name="name" value={f.name} onValue={set("name")} problem={s.problem} />
      <Field label="SKU" name="sku" value={f.sku} onValue={set("sku")} problem={s.problem} />
      <Field label="Price" name="price" inputMode="decimal" value={f.price} onValue={set("price")} problem={s.problem} hint="e.g. 12.50" />
      <Select label="Currency" name="currency" value={f.currency} onValue={set("currency")} problem={s.problem}>
        {CURRENCIES.map((c) => <option key={c}>{c}</option>)}
      </Select>
      <Field label="Stock" name="stock" type="number" min="0" value={f.stock} onValue={set("stock")} problem={s.problem} />
      <Select label="Category" name="category_id" value={f.category_id} onValue={set("category_id")} problem={s.problem}>
        <option value="">None</option>
        {categories.map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
      </Select>
      <Field label="Description" name="description" multiline rows={3} value={f.description} onValue={set("description")} problem={s.problem} />
      <div class="field">
        <label for="product-image">Image</label>
        <input id="product-image" type="file" accept="image/*" onChange={(e) => setImage((e.currentTarget as HTMLInputElement).files?.[0] ?? null)} />
        {s.problem?.field("image") && <p class="field-error">{s.problem.field("image")}</p>}
      </div>
      <div class="actions"><button class="primary" disabled={s.busy}>Add product</button></div>
    </form>
  );
}

function StoreProducts({ store, categories }: { store: Store; categories: Category[] }) {
  const list = useResource(() => get<Page<Product>>(`products${query({ store_id: store.id, limit: 100 })}`), [store.id]);
  const [adding, setAdding] = useState(false);
  const update = useSubmit(async (p: Product, change: Partial<Product>) => {
    await patch(`products/${p.id}`, change);
    list.reload(true);
  });
  return (
    <>
      <div class="title-row">
        <h2>Products of {store.name}</h2>
        <button type="button" class="primary" onClick={() => setAdding(!adding)}>{adding ? "Close" : "New product"}</button>
      </div>
      {adding && <ProductForm store={store} categories={categories} onSaved={() => { setAdding(false); list.reload(true); }} />}
      <ProblemBanner problem={update.problem} />
      <Loaded r={list} empty={(p) => p.data.length === 0} emptyText="No products yet.">
        {(p) => (
          <table>
            <thead><tr><th scope="col">Product</th><th scope="col">Price</th><th scope="col">Stock</th><th scope="col">Visible</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {p.data.map((x) => (
                <tr key={x.id}>
                  <td><Link href={`/shop/products/${x.id}`}>{x.name}</Link> <span class="muted">{x.sku}</span></td>
                  <td>
                    <label class="sr-only" for={`price-${x.id}`}>Price of {x.name} in {x.currency}</label>
                    <input id={`price-${x.id}`} class="narrow-input" inputMode="decimal" value={(x.price / 10 ** minorDigits(x.currency)).toFixed(minorDigits(x.currency))}
                      onChange={(e) => {
                        const price = toMinor((e.currentTarget as HTMLInputElement).value, x.currency);
                        if (Number.isNaN(price)) update.setProblem(new Problem(422, "Invalid price", `Enter an amount in ${x.currency}, e.g. 12.50.`));
                        else update.run(x, { price });
                      }} />{" "}
                    <span class="muted">{x.currency}</span>
                  </td>
                  <td>
                    <label class="sr-only" for={`stock-${x.id}`}>Stock of {x.name}</label>
                    <input id={`stock-${x.id}`} class="narrow-input" type="number" min="0" value={x.stock}
                      onChange={(e) => update.run(x, { stock: Number((e.currentTarget as HTMLInputElement).value) })} />
                  </td>
                  <td><Check name={`active-${x.id}`} label={x.is_active ? "Visible" : "Hidden"} checked={x.is_active} onChange={(v) => update.run(x, { is_active: v })} /></td>
                  <td><button type="button" class="danger" onClick={async () => { await del(`products/${x.id}`); list.reload(true); }}>Delete<span class="sr-only"> {x.name}</span></button></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loaded>
    </>
  );
}

export function MyStore() {
  const stores = useMyStores();
  const categories = useCategories();
  const [form, setForm] = useState({ name: "", description: "" });
  const create = useSubmit(async () => {
    await post("stores", { name: form.name, description: form.description || null });
    setForm({ name: "", description: "" });
    stores.reload(true);
  });
  return (
    <section>
      <PageTitle>My store</PageTitle>
      <Loaded r={stores}>
        {(list) => (
          <>
            {list.length === 0 && (
              <form onSubmit={onSubmit(create.run)} noValidate class="wide-form" aria-label="Open a store">
                <p>You have no store yet.</p>
                <ProblemBanner problem={create.problem} fields={["name", "description"]} />
                <Field label="Store name" name="name" value={form.name} onValue={(v) => setForm({ ...form, name: v })} problem={create.problem} />
                <Field label="Description" name="description" value={form.description} onValue={(v) => setForm({ ...form, description: v })} problem={create.problem} />
                <button class="primary" disabled={create.busy}>Open store</button>
              </form>
            )}
            {list.map((s) => <StoreProducts key={s.id} store={s} categories={categories.data?.data ?? []} />)}
            {list.length > 0 && <p><Link href={`/orders?store=${list[0].id}`}>Orders of my store</Link></p>}
          </>
        )}
      </Loaded>
    </section>
  );
}

export function Categories() {
  const list = useCategories();
  const [name, setName] = useState("");
  const [parent, setParent] = useState("");
  const create = useSubmit(async () => {
    await post("categories", { name, parent_id: parent || null });
    setName("");
    list.reload(true);
  });
  const remove = useSubmit(async (c: Category) => {
    await del(`categories/${c.id}`);
    list.reload(true);
  });
  const nameOf = (id?: string | null) => list.data?.data.find((c) => c.id === id)?.name ?? "—";
  return (
    <section>
      <PageTitle>Categories</PageTitle>
      <form onSubmit={onSubmit(create.run)} noValidate class="inline-form" aria-label="New category">
        <ProblemBanner problem={create.problem} fields={["name", "parent_id"]} />
        <Field label="Name" name="name" value={name} onValue={setName} problem={create.problem} />
        <Select label="Parent" name="parent_id" value={parent} onValue={setParent} problem={create.problem}>
          <option value="">None</option>
          {list.data?.data.map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
        </Select>
        <button class="primary" disabled={create.busy}>Add category</button>
      </form>
      <ProblemBanner problem={remove.problem} />
      <Loaded r={list} empty={(p) => p.data.length === 0} emptyText="No categories yet.">
        {(p) => (
          <table>
            <thead><tr><th scope="col">Name</th><th scope="col">Parent</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>{p.data.map((c) => <tr key={c.id}><td>{c.name}</td><td>{nameOf(c.parent_id)}</td><td><button type="button" class="danger" onClick={() => remove.run(c)}>Delete<span class="sr-only"> {c.name}</span></button></td></tr>)}</tbody>
          </table>
        )}
      </Loaded>
    </section>
  );
}
