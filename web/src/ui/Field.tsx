import { useId, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from 'react';
import { ApiError } from '../api/errors';

interface Common {
  label: string;
  error?: string;
  hint?: ReactNode;
  /** Hide the label visually (it stays the accessible name). */
  hideLabel?: boolean;
}

function Wrap({ id, label, error, hint, hideLabel, children }: Common & { id: string; children: ReactNode }) {
  return (
    <div className={error ? 'field field-invalid' : 'field'}>
      <label htmlFor={id} className={hideLabel ? 'visually-hidden' : 'field-label'}>
        {label}
      </label>
      {children}
      {hint && !error && (
        <div id={`${id}-hint`} className="field-hint">
          {hint}
        </div>
      )}
      {error && (
        <div id={`${id}-error`} className="field-error">
          {error}
        </div>
      )}
    </div>
  );
}

function described(id: string, error?: string, hint?: ReactNode) {
  return error ? `${id}-error` : hint ? `${id}-hint` : undefined;
}

export function TextField({ label, error, hint, hideLabel, id: given, ...rest }: Common & InputHTMLAttributes<HTMLInputElement>) {
  const auto = useId();
  const id = given ?? auto;
  return (
    <Wrap id={id} label={label} error={error} hint={hint} hideLabel={hideLabel}>
      <input
        id={id}
        className="input"
        aria-invalid={error ? true : undefined}
        aria-describedby={described(id, error, hint)}
        {...rest}
      />
    </Wrap>
  );
}

export function TextArea({ label, error, hint, hideLabel, id: given, ...rest }: Common & TextareaHTMLAttributes<HTMLTextAreaElement>) {
  const auto = useId();
  const id = given ?? auto;
  return (
    <Wrap id={id} label={label} error={error} hint={hint} hideLabel={hideLabel}>
      <textarea
        id={id}
        className="input textarea"
        aria-invalid={error ? true : undefined}
        aria-describedby={described(id, error, hint)}
        {...rest}
      />
    </Wrap>
  );
}

export function SelectField({
  label,
  error,
  hint,
  hideLabel,
  id: given,
  children,
  ...rest
}: Common & SelectHTMLAttributes<HTMLSelectElement>) {
  const auto = useId();
  const id = given ?? auto;
  return (
    <Wrap id={id} label={label} error={error} hint={hint} hideLabel={hideLabel}>
      <select
        id={id}
        className="input select"
        aria-invalid={error ? true : undefined}
        aria-describedby={described(id, error, hint)}
        {...rest}
      >
        {children}
      </select>
    </Wrap>
  );
}

/** The problem's `detail` (and any field errors not shown next to a field). */
export function FormError({ error, shownFields = [] }: { error: unknown; shownFields?: string[] }) {
  if (!error) return null;
  let text: string;
  let extra: string[] = [];
  if (error instanceof ApiError) {
    text = error.userMessage;
    extra = error.fieldErrors
      .filter((f) => !shownFields.includes(f.field))
      .map((f) => (f.field ? `${f.field}: ${f.message}` : f.message));
  } else text = error instanceof Error ? error.message : String(error);
  return (
    <div className="form-error" role="alert">
      <p>{text}</p>
      {extra.length > 0 && (
        <ul>
          {extra.map((m) => (
            <li key={m}>{m}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function fieldError(error: unknown, field: string): string | undefined {
  return error instanceof ApiError ? error.fieldError(field) : undefined;
}
