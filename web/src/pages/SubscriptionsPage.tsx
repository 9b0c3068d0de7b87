import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import type { Subscription, SubscriptionCreate } from '../../../client/index.js';
import { CloudJobsError, client } from '../api.js';
import { ErrorPanel } from '../components/bits.js';
import { when } from '../format.js';
import { Deliveries } from './Deliveries.js';

const KEY = ['subscriptions'] as const;

/**
 * Where your jobs' events go: webhooks and email addresses. Create one (a webhook's signing
 * secret is shown this once), turn one off and on, rotate its secret, read its delivery log and
 * send again what was dead-lettered.
 */
export function SubscriptionsPage() {
  const subscriptions = useQuery({ queryKey: KEY, queryFn: () => client.subscriptions.list() });
  const [open, setOpen] = useState<string | undefined>();
  const [secret, setSecret] = useState<{ id: string; secret: string; note: string } | undefined>();
  return (
    <section aria-labelledby="subs-title">
      <h1 id="subs-title">Subscriptions</h1>
      <CreateSubscription onSecret={setSecret} />
      {secret && <SecretOnce {...secret} onDone={() => setSecret(undefined)} />}
      {subscriptions.isError && (
        <ErrorPanel error={subscriptions.error} title="Subscriptions could not be listed" />
      )}
      {subscriptions.data?.length === 0 && <p className="muted">None yet: nothing is sent anywhere.</p>}
      <ul className="subscriptions">
        {(subscriptions.data ?? []).map((subscription) => (
          <li key={subscription.id} className="panel" data-subscription={subscription.id}>
            <SubscriptionRow
              subscription={subscription}
              onSecret={setSecret}
              open={open === subscription.id}
              onToggle={() => setOpen(open === subscription.id ? undefined : subscription.id)}
            />
          </li>
        ))}
      </ul>
    </section>
  );
}

const target = (s: Subscription) => (s.target.kind === 'webhook' ? s.target.url : s.target.address);

function SubscriptionRow({
  subscription: s,
  onSecret,
  open,
  onToggle,
}: {
  subscription: Subscription;
  onSecret: (secret: { id: string; secret: string; note: string }) => void;
  open: boolean;
  onToggle: () => void;
}) {
  const queries = useQueryClient();
  const done = () => void queries.invalidateQueries({ queryKey: KEY });
  const toggle = useMutation({
    mutationFn: () => client.subscriptions.update(s.id, { enabled: !s.enabled }),
    onSuccess: done,
  });
  const rotate = useMutation({
    mutationFn: () => client.subscriptions.rotateSecret(s.id),
    onSuccess: (answer) => {
      onSecret({
        id: s.id,
        secret: answer.secret,
        note: answer.previousSecretSignsUntil
          ? `The old secret also signs until ${when(answer.previousSecretSignsUntil)}, so receivers can switch.`
          : '',
      });
      done();
    },
  });
  const remove = useMutation({ mutationFn: () => client.subscriptions.delete(s.id), onSuccess: done });
  const failed = toggle.error ?? rotate.error ?? remove.error;
  return (
    <>
      <div className="heading">
        <div>
          <strong className="mono">{target(s)}</strong>{' '}
          <span className={`badge ${s.enabled ? 'ok' : 'off'}`}>{s.enabled ? 'on' : 'off'}</span>
          <div className="muted small">
            {s.target.kind} · {s.events.join(', ')}
            {s.statuses ? ` · into ${s.statuses.join(', ')}` : ''}
            {s.jobId ? ` · job ${s.jobId}` : ''} · since {when(s.createdAt)}
            {s.expiresAt ? ` · until ${when(s.expiresAt)}` : ''}
          </div>
          {s.disabledReason && <div className="muted small">Stopped: {s.disabledReason}</div>}
        </div>
        <div className="actions">
          <button type="button" aria-expanded={open} onClick={onToggle}>
            Deliveries
          </button>
          <button type="button" onClick={() => toggle.mutate()} disabled={toggle.isPending}>
            {s.enabled ? 'Turn off' : 'Turn on'}
          </button>
          {s.target.kind === 'webhook' && (
            <button
              type="button"
              disabled={rotate.isPending}
              onClick={() => {
                if (window.confirm('Make a new signing secret? Receivers must be given it.')) rotate.mutate();
              }}
            >
              Rotate secret
            </button>
          )}
          <button
            type="button"
            className="danger"
            disabled={remove.isPending}
            onClick={() => {
              if (window.confirm(`Stop sending to ${target(s)} and forget its deliveries?`)) remove.mutate();
            }}
          >
            Delete
          </button>
        </div>
      </div>
      {failed && <ErrorPanel error={failed} title="The subscription refused" />}
      {open && <Deliveries subscriptionId={s.id} />}
    </>
  );
}

function CreateSubscription({
  onSecret,
}: {
  onSecret: (secret: { id: string; secret: string; note: string }) => void;
}) {
  const queries = useQueryClient();
  const [kind, setKind] = useState<'webhook' | 'email'>('webhook');
  const [address, setAddress] = useState('');
  const [tasks, setTasks] = useState(false);
  const [finalOnly, setFinalOnly] = useState(false);
  const create = useMutation({
    mutationFn: (body: SubscriptionCreate) => client.subscriptions.create(body),
    onSuccess: (created) => {
      setAddress('');
      void queries.invalidateQueries({ queryKey: KEY });
      if (created.secret)
        onSecret({
          id: created.id,
          secret: created.secret,
          note: 'Receivers check each delivery’s webhook-signature with it (Standard Webhooks).',
        });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const filters = {
      events: tasks ? ['job.*', 'task.*'] : ['job.*'],
      ...(finalOnly ? { statuses: ['FINISHED', 'FAILED', 'CANCELLED'] } : {}),
    };
    create.mutate(
      (kind === 'webhook'
        ? { url: address.trim(), ...filters }
        : { email: address.trim(), ...filters }) as SubscriptionCreate,
    );
  };
  const fields = create.error instanceof CloudJobsError ? create.error.errors : [];
  return (
    <form className="panel create" onSubmit={submit} aria-labelledby="create-title">
      <h2 id="create-title">New subscription</h2>
      <fieldset className="row">
        <legend>Send to</legend>
        <label>
          <input type="radio" name="kind" checked={kind === 'webhook'} onChange={() => setKind('webhook')} />{' '}
          a webhook
        </label>
        <label>
          <input type="radio" name="kind" checked={kind === 'email'} onChange={() => setKind('email')} /> an
          email address
        </label>
      </fieldset>
      <label htmlFor="target">{kind === 'webhook' ? 'Webhook URL' : 'Email address'}</label>
      <input
        id="target"
        type={kind === 'webhook' ? 'url' : 'email'}
        required
        value={address}
        placeholder={kind === 'webhook' ? 'https://example.org/cloudjobs' : 'me@example.org'}
        aria-invalid={fields.length > 0}
        onChange={(event) => setAddress(event.target.value)}
      />
      <label>
        <input type="checkbox" checked={tasks} onChange={(event) => setTasks(event.target.checked)} /> task
        events too
      </label>
      <label>
        <input type="checkbox" checked={finalOnly} onChange={(event) => setFinalOnly(event.target.checked)} />{' '}
        only when a job ends
      </label>
      <div>
        <button type="submit" disabled={create.isPending}>
          Subscribe
        </button>
      </div>
      {create.isError && <ErrorPanel error={create.error} title="Not subscribed" />}
    </form>
  );
}

/** A secret, shown this once: the service keeps only what it needs to sign. */
function SecretOnce({
  secret,
  note,
  onDone,
}: {
  id: string;
  secret: string;
  note: string;
  onDone: () => void;
}) {
  const [copied, setCopied] = useState(false);
  return (
    <div className="panel secret" role="status">
      <strong>Signing secret — shown this once</strong>
      <p className="mono" data-secret>
        {secret}
      </p>
      <p className="muted small">{note}</p>
      <div className="actions">
        <button
          type="button"
          onClick={() =>
            void navigator.clipboard.writeText(secret).then(
              () => setCopied(true),
              () => setCopied(false),
            )
          }
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
        <button type="button" onClick={onDone}>
          I have kept it
        </button>
      </div>
    </div>
  );
}
