import { useState, type FormEvent } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { api, unwrap } from '../api';
import { keys } from '../api/keys';
import { PROJECT_STATUSES, PROJECT_STATUS_LABEL, type Project, type ProjectStatus } from '../api/types';
import { Dialog } from '../ui/Dialog';
import { FormError, SelectField, TextArea, TextField, fieldError } from '../ui/Field';

interface Props {
  project?: Project;
  onClose: () => void;
  onSaved: (p: Project) => void;
}

export function ProjectFormDialog({ project, onClose, onSaved }: Props) {
  const qc = useQueryClient();
  const [name, setName] = useState(project?.name ?? '');
  const [description, setDescription] = useState(project?.description ?? '');
  const [status, setStatus] = useState<ProjectStatus>(project?.status ?? 'active');
  const [start, setStart] = useState(project?.start_date ?? '');
  const [due, setDue] = useState(project?.due_date ?? '');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      let saved: Project;
      if (project) {
        saved = (await unwrap(
          api.PATCH('/projects/{id}', {
            params: { path: { id: project.id } },
            body: { name, description, status, start_date: start || null, due_date: due || null },
          }),
        )) as Project;
      } else {
        saved = (await unwrap(
          api.POST('/projects', {
            body: { name, description, status, start_date: start || null, due_date: due || null },
          }),
        )) as Project;
      }
      qc.setQueryData(keys.project(saved.id), saved);
      void qc.invalidateQueries({ queryKey: keys.projectsAll });
      onSaved(saved);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  const formId = project ? 'edit-project-form' : 'new-project-form';
  return (
    <Dialog
      title={project ? 'Edit project' : 'New project'}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" form={formId} className="button button-primary" disabled={busy}>
            {project ? 'Save changes' : 'Create project'}
          </button>
        </>
      }
    >
      <form id={formId} onSubmit={submit} noValidate>
        <TextField
          label="Name"
          required
          maxLength={200}
          autoFocus
          value={name}
          onChange={(e) => setName(e.target.value)}
          error={fieldError(error, 'name')}
        />
        <TextArea
          label="Description"
          rows={3}
          maxLength={10000}
          value={description}
          onChange={(e) => setDescription(e.target.value)}
          error={fieldError(error, 'description')}
        />
        <SelectField label="Status" value={status} onChange={(e) => setStatus(e.target.value as ProjectStatus)} error={fieldError(error, 'status')}>
          {PROJECT_STATUSES.map((s) => (
            <option key={s} value={s}>
              {PROJECT_STATUS_LABEL[s]}
            </option>
          ))}
        </SelectField>
        <div className="field-row">
          <TextField label="Start date" type="date" value={start} onChange={(e) => setStart(e.target.value)} error={fieldError(error, 'start_date')} />
          <TextField label="Due date" type="date" value={due} onChange={(e) => setDue(e.target.value)} error={fieldError(error, 'due_date')} />
        </div>
        <FormError error={error} shownFields={['name', 'description', 'status', 'start_date', 'due_date']} />
      </form>
    </Dialog>
  );
}
