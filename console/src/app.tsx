// The console's frame: navigation, the page for the current path, and who may see it.
import { useEffect, useRef } from "preact/hooks";
import type { ComponentChildren, JSX } from "preact";
import { signOut, useAuth } from "./auth";
import { session } from "./api";
import { Link, match, navigate, useLocation } from "./router";
import { Loading } from "./ui";
import { useCart } from "./cart";
import { Account, ForgotPassword, Register, ResetPassword, SignIn, VerifyEmail } from "./pages/account";
import { Dashboard } from "./pages/dashboard";
import { Compose, DeadLetters, EmailDetail, Emails } from "./pages/emails";
import { Contacts, TemplateEditor, Templates } from "./pages/templates";
import { MapPage } from "./pages/map";
import { Addresses, Categories, Checkout, MyStore, ProductPage, Shop } from "./pages/shop";
import { OrderDetail, Orders } from "./pages/orders";
import { Inbox, NotificationPreferences, connectStream, useUnread } from "./pages/inbox";
import { Breakers, Suppressions, Users } from "./pages/admin";

type Route = { path: string; view: (p: Record<string, string>) => JSX.Element; access: "public" | "user" | "admin" };

const ROUTES: Route[] = [
  { path: "/login", view: () => <SignIn />, access: "public" },
  { path: "/register", view: () => <Register />, access: "public" },
  { path: "/forgot-password", view: () => <ForgotPassword />, access: "public" },
  { path: "/reset-password", view: () => <ResetPassword />, access: "public" },
  { path: "/verify-email", view: () => <VerifyEmail />, access: "public" },
  { path: "/", view: () => <Dashboard />, access: "user" },
  { path: "/account", view: () => <Account />, access: "user" },
  { path: "/emails", view: () => <Emails />, access: "user" },
  { path: "/emails/new", view: () => <Compose />, access: "user" },
  { path: "/emails/dead-letters", view: () => <DeadLetters />, access: "user" },
  { path: "/emails/:id", view: (p) => <EmailDetail id={p.id} />, access: "user" },
  { path: "/templates", view: () => <Templates />, access: "user" },
  { path: "/templates/new", view: () => <TemplateEditor />, access: "admin" },
  { path: "/templates/:id", view: (p) => <TemplateEditor id={p.id} />, access: "user" },
  { path: "/contacts", view: () => <Contacts />, access: "user" },
  { path: "/map", view: () => <MapPage />, access: "user" },
  { path: "/shop", view: () => <Shop />, access: "user" },
  { path: "/shop/products/:id", view: (p) => <ProductPage id={p.id} />, access: "user" },
  { path: "/checkout", view: () => <Checkout />, access: "user" },
  { path: "/addresses", view: () => <Addresses />, access: "user" },
  { path: "/my-store", view: () => <MyStore />, access: "user" },
  { path: "/categories", view: () => <Categories />, access: "admin" },
  { path: "/orders", view: () => <Orders />, access: "user" },
  { path: "/orders/:id", view: (p) => <OrderDetail id={p.id} />, access: "user" },
  { path: "/inbox", view: () => <Inbox />, access: "user" },
  { path: "/inbox/preferences", view: () => <NotificationPreferences />, access: "user" },
  { path: "/admin/users", view: () => <Users />, access: "admin" },
  { path: "/admin/suppressions", view: () => <Suppressions />, access: "admin" },
  { path: "/admin/breakers", view: () => <Breakers />, access: "admin" },
];

function NavLink({ href, children }: { href: string; children: ComponentChildren }) {
  const { path } = useLocation();
  const current = href === "/" ? path === "/" : path === href || path.startsWith(href + "/");
  return <li><Link href={href} aria-current={current ? "page" : undefined}>{children}</Link></li>;
}

function Navigation({ admin }: { admin: boolean }) {
  const unread = useUnread();
  const items = useCart().reduce((n, l) => n + l.quantity, 0);
  return (
    <nav aria-label="Main">
      <ul class="nav">
        <NavLink href="/">Dashboard</NavLink>
        <NavLink href="/emails">Emails</NavLink>
        <NavLink href="/templates">Templates</NavLink>
        <NavLink href="/contacts">Contacts</NavLink>
        <NavLink href="/map">Map</NavLink>
        <NavLink href="/shop">Shop</NavLink>
        <NavLink href="/checkout">Cart{items > 0 && <span class="count-plain"> ({items}<span class="sr-only"> items</span>)</span>}</NavLink>
        <NavLink href="/my-store">My store</NavLink>
        <NavLink href="/orders">Orders</NavLink>
        <NavLink href="/addresses">Addresses</NavLink>
        <NavLink href="/inbox">Inbox{unread > 0 && <span class="count" data-testid="unread-count"> {unread}<span class="sr-only"> unread</span></span>}</NavLink>
        {admin && <NavLink href="/admin/users">Users</NavLink>}
        {admin && <NavLink href="/categories">Categories</NavLink>}
        {admin && <NavLink href="/admin/suppressions">Suppressions</NavLink>}
        {admin && <NavLink href="/admin/breakers">Breakers</NavLink>}
      </ul>
    </nav>
  );
}

export function App() {
  const { user, ready } = useAuth();
  const { path } = useLocation();
  const main = useRef<HTMLElement>(null);
  let params: Record<string, string> = {};
  const route = ROUTES.find((r) => {
    const found = match(r.path, path);
    if (found) params = found;
    return found !== null;
  });

  // The live stream follows the session.
  useEffect(() => {
    connectStream();
    return session.onChange(connectStream);
  }, []);
  // Focus moves to the new page's heading, so keyboard and screen reader users follow.
  useEffect(() => {
    main.current?.querySelector<HTMLElement>("#page-title")?.focus({ preventScroll: true });
  }, [path]);
  useEffect(() => {
    if (!ready) return;
    if (!user && route && route.access !== "public") navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`, true);
    if (user && (path === "/login" || path === "/register")) navigate("/", true);
  }, [ready, user, path]);

  let page: JSX.Element;
  if (!ready) page = <Loading />;
  else if (!route) page = <section><h1 id="page-title" tabIndex={-1}>Not found</h1><p>No page at {path}. <Link href="/">Go to the dashboard</Link></p></section>;
  else if (route.access === "admin" && user?.role !== "admin") page = user ? <section><h1 id="page-title" tabIndex={-1}>Administrators only</h1></section> : <Loading />;
  else if (route.access === "user" && !user) page = <Loading />;
  else page = route.view(params);

  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <Link href="/" class="brand">Agora</Link>
        {user && <Navigation admin={user.role === "admin"} />}
        <div class="who">
          {user ? (
            <>
              <Link href="/account">{user.name}</Link>
              <Link href="/inbox/preferences">Preferences</Link>
              <button type="button" class="link" onClick={async () => { await signOut(); navigate("/login"); }}>Sign out</button>
            </>
          ) : (
            <><Link href="/login">Sign in</Link><Link href="/register">Register</Link></>
          )}
        </div>
      </header>
      <main id="main" ref={main}>{page}</main>
      <footer class="foot"><a href="/swagger-ui/">API</a></footer>
    </>
  );
}
