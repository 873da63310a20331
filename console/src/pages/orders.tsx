// Orders for the buyer and for the seller, one order with its history, and the status
// changes each may make: the buyer cancels, the seller ships and delivers, an administrator
// also records payment.
import { useState } from "preact/hooks";
import { get, post, query } from "../api";
import type { Page } from "../api";
import { useAuth } from "../auth";
import { Link, navigate, useLocation } from "../router";
import type { Order, OrderStatus } from "../types";
import { useMyStores } from "./shop";
import { Badge, Field, Loaded, PageTitle, Pager, ProblemBanner, Select, money, useResource, useSubmit, when } from "../ui";

const STATUSES: OrderStatus[] = ["pending_payment", "paid", "fulfilled", "delivered", "cancelled", "expired"];
const NEXT: Record<OrderStatus, OrderStatus[]> = {
  pending_payment: ["paid", "cancelled"], paid: ["fulfilled", "cancelled"], fulfilled: ["delivered"], delivered: [], cancelled: [], expired: [],
};
const ACTION: Partial<Record<OrderStatus, string>> = { paid: "Mark paid", fulfilled: "Mark shipped", delivered: "Mark delivered", cancelled: "Cancel order" };

export function Orders() {
  const { user } = useAuth();
  const q = useLocation().query;
  const stores = useMyStores();
  const store = q.get("store") ?? "";
  const [status, setStatus] = useState("");
  const [page, setPage] = useState(1);
  const list = useResource(() => get<Page<Order>>(`orders${query({ store_id: store, status, page })}`), [store, status, page]);
  return (
    <section>
      <PageTitle>Orders</PageTitle>
      <nav class="tabs" aria-label="Whose orders">
        {/* Administrators see every order there. */}
        <Link href="/orders" aria-current={store ? undefined : "page"}>{user?.role === "admin" ? "All orders" : "My purchases"}</Link>
        {stores.data?.map((s) => <Link key={s.id} href={`/orders?store=${s.id}`} aria-current={store === s.id ? "page" : undefined}>Sold by {s.name}</Link>)}
      </nav>
      <div class="filters">
        <Select label="Status" name="status" value={status} onValue={(v) => { setStatus(v); setPage(1); }}>
          <option value="">Any</option>
          {STATUSES.map((s) => <option key={s} value={s}>{s.replace(/_/g, " ")}</option>)}
        </Select>
      </div>
      <Loaded r={list} empty={(p) => p.data.length === 0} emptyText="No orders.">
        {(p) => (
          <>
            <table>
              <thead><tr><th scope="col">Order</th><th scope="col">Items</th><th scope="col">Total</th><th scope="col">Status</th></tr></thead>
              <tbody>
                {p.data.map((o) => (
                  <tr key={o.id}>
                    <td><Link href={`/orders/${o.id}`}>{when(o.created_at)}</Link></td>
                    <td>{o.items.map((i) => `${i.quantity} × ${i.name}`).join(", ")}</td>
                    <td>{money(o.total, o.currency)}</td>
                    <td><Badge value={o.status} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
            <Pager {...p.pagination} onPage={setPage} />
          </>
        )}
      </Loaded>
    </section>
  );
}

export function OrderDetail({ id }: { id: string }) {
  const { user } = useAuth();
  const order = useResource(() => get<Order>(`orders/${id}`), [id]);
  const stores = useMyStores();
  const [reason, setReason] = useState("");
  const change = useSubmit(async (to: OrderStatus) => {
    order.set(await post<Order>(`orders/${id}/status`, { status: to, reason: reason || null }));
    setReason("");
  });
  const actions = (o: Order): OrderStatus[] => {
    const admin = user?.role === "admin";
    const seller = stores.data?.some((s) => s.id === o.store_id) ?? false;
    const buyer = o.buyer_id === user?.id;
    return NEXT[o.status].filter((to) => admin || (seller && (to === "fulfilled" || to === "delivered")) || (buyer && to === "cancelled"));
  };
  return (
    <section>
      <PageTitle actions={<button type="button" onClick={() => navigate("/orders")}>All orders</button>}>Order</PageTitle>
      <Loaded r={order}>
        {(o) => (
          <>
            <dl class="facts">
              <dt>Status</dt><dd><span role="status" data-testid="order-status"><Badge value={o.status} /></span></dd>
              <dt>Placed</dt><dd>{when(o.created_at)}</dd>
              <dt>Total</dt><dd>{money(o.total, o.currency)}</dd>
              <dt>Ship to</dt><dd>{o.address.recipient}, {o.address.street}, {o.address.postal_code} {o.address.city}, {o.address.country}</dd>
              {o.note && <><dt>Note</dt><dd>{o.note}</dd></>}
            </dl>
            <table>
              <thead><tr><th scope="col">Item</th><th scope="col">Quantity</th><th scope="col">Price</th></tr></thead>
              <tbody>{o.items.map((i) => <tr key={i.product_id}><td><Link href={`/shop/products/${i.product_id}`}>{i.name}</Link></td><td>{i.quantity}</td><td>{money(i.unit_price, o.currency)}</td></tr>)}</tbody>
            </table>
            {actions(o).length > 0 && (
              <div class="status-change">
                <ProblemBanner problem={change.problem} fields={["reason"]} />
                <Field label="Reason (optional)" name="reason" value={reason} onValue={setReason} problem={change.problem} />
                <div class="actions">
                  {actions(o).map((to) => <button key={to} type="button" class={to === "cancelled" ? "danger" : "primary"} disabled={change.busy} onClick={() => change.run(to)}>{ACTION[to]}</button>)}
                </div>
              </div>
            )}
            <h2>History</h2>
            <ol class="history">
              {o.history.map((h, i) => <li key={i}><time dateTime={h.at}>{when(h.at)}</time>: <Badge value={h.to} />{h.reason && <> ({h.reason})</>}</li>)}
            </ol>
          </>
        )}
      </Loaded>
    </section>
  );
}
