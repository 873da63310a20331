// Signing in and out, registering, verifying the address and resetting the password from
// the mail's link, and the account's sessions.
import { useEffect, useState } from "preact/hooks";
import { get, post, del, Problem } from "../api";
import { reloadUser, signIn, signOut, useAuth } from "../auth";
import { Link, navigate, useLocation } from "../router";
import type { Session } from "../types";
import { Field, Loaded, PageTitle, ProblemBanner, onSubmit, useResource, useSubmit, when } from "../ui";

function afterSignIn() {
  const next = new URLSearchParams(location.search).get("next");
  navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/", true);
}

function lockMessage(p: Problem | null) {
  if (!p || p.status !== 423) return null;
  const until = p.retryAfter ? new Date(Date.now() + p.retryAfter * 1000) : null;
  return (
    <div class="problem locked" role="alert">
      <strong>Account locked.</strong> Too many failed sign-ins.
      {until && <> Try again after <time dateTime={until.toISOString()}>{until.toLocaleTimeString()}</time> ({p.retryAfter} s).</>}
    </div>
  );
}

export function SignIn() {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const s = useSubmit(async () => {
    await signIn(await post("auth/login?refresh_cookie=true", { email, password }));
    afterSignIn();
  });
  return (
    <section class="narrow">
      <PageTitle>Sign in</PageTitle>
      <form onSubmit={onSubmit(s.run)} noValidate>
        {lockMessage(s.problem) ?? <ProblemBanner problem={s.problem} fields={["email", "password"]} />}
        <Field label="Email" name="email" type="email" autocomplete="username" value={email} onValue={setEmail} problem={s.problem} required />
        <Field label="Password" name="password" type="password" autocomplete="current-password" value={password} onValue={setPassword} problem={s.problem} required />
        <button class="primary" disabled={s.busy}>Sign in</button>
      </form>
      <p><Link href="/register">Create an account</Link> · <Link href="/forgot-password">Forgot your password?</Link></p>
    </section>
  );
}

export function Register() {
  const [f, setF] = useState({ name: "", email: "", password: "", phone: "" });
  const set = (k: keyof typeof f) => (v: string) => setF({ ...f, [k]: v });
  const s = useSubmit(async () => {
    const body = { ...f, phone: f.phone.trim() || null };
    const r = await post<{ tokens: { access_token: string; expires_in: number } }>("auth/register?refresh_cookie=true", body);
    await signIn(r.tokens);
    navigate("/", true);
  });
  const fields = ["name", "email", "password", "phone"];
  return (
    <section class="narrow">
      <PageTitle>Create an account</PageTitle>
      <form onSubmit={onSubmit(s.run)} noValidate>
        <ProblemBanner problem={s.problem} fields={fields} />
        <Field label="Name" name="name" autocomplete="name" value={f.name} onValue={set("name")} problem={s.problem} required />
        <Field label="Email" name="email" type="email" autocomplete="email" value={f.email} onValue={set("email")} problem={s.problem} required />
        <Field label="Password" name="password" type="password" autocomplete="new-password" hint="At least 10 characters; not your email, not a common password." value={f.password} onValue={set("password")} problem={s.problem} required />
        <Field label="Phone (optional)" name="phone" type="tel" autocomplete="tel" value={f.phone} onValue={set("phone")} problem={s.problem} />
        <button class="primary" disabled={s.busy}>Create account</button>
      </form>
      <p>Already registered? <Link href="/login">Sign in</Link></p>
    </section>
  );
}

export function ForgotPassword() {
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState(false);
  const s = useSubmit(async () => {
    await post("auth/forgot-password", { email });
    setSent(true);
  });
  return (
    <section class="narrow">
      <PageTitle>Forgot your password?</PageTitle>
      {sent ? (
        <p role="status">If an account exists for {email}, a mail with a link to choose a new password is on its way.</p>
      ) : (
        <form onSubmit={onSubmit(s.run)} noValidate>
          <ProblemBanner problem={s.problem} fields={["email"]} />
          <Field label="Email" name="email" type="email" autocomplete="email" value={email} onValue={setEmail} problem={s.problem} required />
          <button class="primary" disabled={s.busy}>Send the link</button>
        </form>
      )}
      <p><Link href="/login">Back to sign in</Link></p>
    </section>
  );
}

export function ResetPassword() {
  const token = useLocation().query.get("token") ?? "";
  const [password, setPassword] = useState("");
  const [done, setDone] = useState(false);
  const s = useSubmit(async () => {
    await post("auth/reset-password", { token, password });
    setDone(true);
  });
  return (
    <section class="narrow">
      <PageTitle>Choose a new password</PageTitle>
      {done ? (
        <p role="status">Your password is changed and every session was signed out. <Link href="/login">Sign in</Link></p>
      ) : (
        <form onSubmit={onSubmit(s.run)} noValidate>
          {!token && <p class="problem" role="alert">This page needs the link from the reset mail.</p>}
          <ProblemBanner problem={s.problem} fields={["password"]} />
          <Field label="New password" name="password" type="password" autocomplete="new-password" value={password} onValue={setPassword} problem={s.problem} required />
          <button class="primary" disabled={s.busy || !token}>Set password</button>
        </form>
      )}
    </section>
  );
}

export function VerifyEmail() {
  const token = useLocation().query.get("token") ?? "";
  const { user } = useAuth();
  const [state, setState] = useState<"checking" | "done" | Problem>("checking");
  useEffect(() => {
    post("auth/verify-email", { token })
      .then(() => {
        setState("done");
        if (user) reloadUser();
      })
      .catch((e) => setState(e instanceof Problem ? e : new Problem(0, "Failed", String(e))));
  }, [token]);
  return (
    <section class="narrow">
      <PageTitle>Verify your email</PageTitle>
      {state === "checking" && <p role="status">Checking the link…</p>}
      {state === "done" && <p role="status">Your email address is verified. <Link href="/">Continue</Link></p>}
      {state instanceof Problem && <ProblemBanner problem={state} />}
    </section>
  );
}

export function Account() {
  const { user } = useAuth();
  const sessions = useResource(() => get<Session[]>("auth/sessions"), []);
  const resend = useSubmit(() => post("auth/resend-verification"));
  const [resent, setResent] = useState(false);
  const everywhere = useSubmit(async () => {
    await signOut(true);
    navigate("/login", true);
  });
  if (!user) return null;
  return (
    <section>
      <PageTitle>Account</PageTitle>
      <dl class="facts">
        <dt>Name</dt><dd>{user.name}</dd>
        <dt>Email</dt><dd>{user.email} {user.email_verified ? "(verified)" : "(not verified)"}</dd>
        <dt>Role</dt><dd>{user.role}</dd>
      </dl>
      {!user.email_verified && (
        <p>
          <button type="button" disabled={resend.busy || resent} onClick={async () => setResent(await resend.run())}>Send the verification mail again</button>
          {resent && <span role="status"> Sent.</span>}
        </p>
      )}
      <h2>Sessions</h2>
      <Loaded r={sessions}>
        {(list) => (
          <table>
            <thead><tr><th scope="col">Device</th><th scope="col">Address</th><th scope="col">Last used</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {list.map((s) => (
                <tr key={s.id}>
                  <td>{s.device ?? "Unknown device"}{s.current && <strong> (this one)</strong>}</td>
                  <td>{s.ip ?? "—"}</td>
                  <td>{when(s.last_used_at)}</td>
                  <td>{!s.current && <button type="button" onClick={async () => { await del(`auth/sessions/${s.id}`); sessions.reload(); }}>Sign out</button>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loaded>
      <ProblemBanner problem={everywhere.problem} />
      <button type="button" class="danger" onClick={() => everywhere.run()} disabled={everywhere.busy}>Sign out everywhere</button>
    </section>
  );
}
