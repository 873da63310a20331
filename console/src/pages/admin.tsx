// Administration: accounts (search, role, deactivate, unlock), suppressed email addresses,
// and the circuit breakers in front of outside services.
import { useState } from "preact/hooks";
import { del, get, patch, post, query } from "../api";
import type { Page } from "../api";
import type { Breaker, Suppression, User } from "../types";
import { Badge, Field, Loaded, PageTitle, Pager, ProblemBanner, onSubmit, useResource, useSubmit, when } from "../ui";

export function Users() {
  const [search, setSearch] = useState("");
  const [applied, setApplied] = useState("");
  const [page, setPage] = useState(1);
  const list = useResource(() => get<Page<User>>(`users${query({ search: applied, page })}`), [applied, page]);
  const act = useSubmit(async (u: User, action: "admin" | "user" | "deactivate" | "activate" | "unlock") => {
    if (action === "admin" || action === "user") await patch(`users/${u.id}`, { role: action });
    else await post(`users/${u.id}/${action}`);
    await list.reload(true);
  });
  const locked = (u: User) => !!u.locked_until && new Date(u.locked_until) > new Date();
  return (
    <section>
      <PageTitle>Users</PageTitle>
      <form class="filters" role="search" onSubmit={onSubmit(() => { setPage(1); setApplied(search); })}>
        <Field label="Search by name or email" name="user-search" type="search" value={search} onValue={setSearch} />
        <button>Search</button>
      </form>
      <ProblemBanner problem={act.problem} />
      <Loaded r={list} empty={(p) => p.data.length === 0} emptyText="No accounts match.">
        {(p) => (
          <>
            <table>
              <thead><tr><th scope="col">Name</th><th scope="col">Email</th><th scope="col">Role</th><th scope="col">State</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
              <tbody>
                {p.data.map((u) => (
                  <tr key={u.id} data-user={u.email}>
                    <td>{u.name}</td>
                    <td>{u.email}</td>
                    <td>{u.role}</td>
                    <td>
                      {u.is_active ? <Badge value="active" /> : <Badge value="deactivated" />}
                      {locked(u) && <> <Badge value="locked" /> until {when(u.locked_until)}</>}
                    </td>
                    <td class="row-actions">
                      <button type="button" onClick={() => act.run(u, u.role === "admin" ? "user" : "admin")}>{u.role === "admin" ? "Make user" : "Make admin"}<span class="sr-only"> {u.email}</span></button>
                      <button type="button" class={u.is_active ? "danger" : ""} onClick={() => act.run(u, u.is_active ? "deactivate" : "activate")}>{u.is_active ? "Deactivate" : "Activate"}<span class="sr-only"> {u.email}</span></button>
                      {locked(u) && <button type="button" onClick={() => act.run(u, "unlock")}>Unlock<span class="sr-only"> {u.email}</span></button>}
                    </td>
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

export function Suppressions() {
  const [page, setPage] = useState(1);
  const list = useResource(() => get<Page<Suppression>>(`email-suppressions${query({ page })}`), [page]);
  const remove = useSubmit(async (s: Suppression) => {
    await del(`email-suppressions/${encodeURIComponent(s.address)}`);
    await list.reload(true);
  });
  return (
    <section>
      <PageTitle>Email suppressions</PageTitle>
      <p>Addresses that bounced permanently; nothing is sent to them until removed here.</p>
      <ProblemBanner problem={remove.problem} />
      <Loaded r={list} empty={(p) => p.data.length === 0} emptyText="No suppressed addresses.">
        {(p) => (
          <>
            <table>
              <thead><tr><th scope="col">Address</th><th scope="col">Reason</th><th scope="col">Since</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
              <tbody>{p.data.map((s) => <tr key={s.address}><td>{s.address}</td><td>{s.reason}</td><td>{when(s.created_at)}</td><td><button type="button" onClick={() => remove.run(s)}>Remove<span class="sr-only"> {s.address}</span></button></td></tr>)}</tbody>
            </table>
            <Pager {...p.pagination} onPage={setPage} />
          </>
        )}
      </Loaded>
    </section>
  );
}

export function Breakers() {
  const list = useResource(() => get<{ breakers: Breaker[] }>("admin/circuit-breakers"), []);
  return (
    <section>
      <PageTitle actions={<button type="button" onClick={() => list.reload()}>Refresh</button>}>Circuit breakers</PageTitle>
      <p>Outside services (geocoding, SMS and push providers) are skipped while their breaker is open.</p>
      <Loaded r={list} empty={(l) => l.breakers.length === 0} emptyText="No breakers in this deployment.">
        {(l) => (
          <table>
            <thead><tr><th scope="col">Service</th><th scope="col">State</th></tr></thead>
            <tbody>{l.breakers.map((b) => <tr key={b.name}><td>{b.name}</td><td><Badge value={b.state} /></td></tr>)}</tbody>
          </table>
        )}
      </Loaded>
    </section>
  );
}
