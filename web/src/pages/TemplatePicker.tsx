import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { stringify } from 'yaml';
import { client } from '../api.js';
import { ErrorPanel } from '../components/bits.js';

type Scalar = string | number | boolean;

/**
 * Starts a spec from a registered template: pick it and its version, fill in its parameters
 * (their defaults shown), and the spec text becomes `template: name@version` with those values,
 * to submit as it is or to change further.
 */
export function TemplatePicker({ onSpec }: { onSpec: (text: string) => void }) {
  const templates = useQuery({ queryKey: ['templates'], queryFn: () => client.templates.list() });
  const [name, setName] = useState('');
  const detail = useQuery({
    queryKey: ['template', name],
    queryFn: () => client.templates.get(name),
    enabled: name !== '',
  });
  const [version, setVersion] = useState('');
  const [values, setValues] = useState<Record<string, string>>({});
  if (templates.isError)
    return <ErrorPanel error={templates.error} title="The templates could not be listed" />;
  if (!templates.data?.length) return null;
  const versions = detail.data?.versions ?? [];
  const chosen = versions.find((v) => v.version === version) ?? versions.at(-1);
  const defaults = (chosen?.body.parameters ?? {}) as Record<string, Scalar>;
  const use = () => {
    if (!chosen) return;
    const parameters = Object.fromEntries(
      Object.entries(defaults).map(([key, fallback]) => {
        const given = values[key];
        if (given === undefined || given === '') return [key, fallback];
        // A parameter keeps the kind of its default: numbers stay numbers.
        return [
          key,
          typeof fallback === 'number' && given.trim() !== '' && !Number.isNaN(Number(given))
            ? Number(given)
            : given,
        ];
      }),
    );
    onSpec(
      stringify({
        template: `${chosen.name}@${chosen.version}`,
        ...(Object.keys(parameters).length ? { parameters } : {}),
      }),
    );
  };
  return (
    <fieldset className="panel template">
      <legend>Start from a template</legend>
      <div className="filters">
        <label>
          Template
          <select
            value={name}
            onChange={(event) => {
              setName(event.target.value);
              setVersion('');
              setValues({});
            }}
          >
            <option value="">choose one</option>
            {templates.data.map((t) => (
              <option key={`${t.owner}/${t.name}`} value={t.name}>
                {t.name} (by {t.owner})
              </option>
            ))}
          </select>
        </label>
        {versions.length > 0 && (
          <label>
            Version
            <select value={chosen?.version ?? ''} onChange={(event) => setVersion(event.target.value)}>
              {versions.map((v) => (
                <option key={v.version} value={v.version}>
                  {v.version}
                </option>
              ))}
            </select>
          </label>
        )}
      </div>
      {chosen?.description && <p className="muted small">{chosen.description}</p>}
      {Object.entries(defaults).map(([key, fallback]) => (
        <label key={key} className="param">
          <span className="mono">{key}</span>
          <input
            value={values[key] ?? ''}
            placeholder={String(fallback)}
            onChange={(event) => setValues({ ...values, [key]: event.target.value })}
          />
        </label>
      ))}
      {chosen && (
        <div>
          <button type="button" onClick={use}>
            Use this template
          </button>
        </div>
      )}
    </fieldset>
  );
}
