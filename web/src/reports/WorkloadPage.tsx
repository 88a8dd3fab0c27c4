import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api, unwrap } from '../api';
import { messageOf } from '../api/errors';
import { keys } from '../api/keys';
import { STATUSES, STATUS_LABEL, type Workload } from '../api/types';
import { useToast } from '../ui/Toasts';
import { downloadWithAuth } from './download';

export default function WorkloadPage() {
  const toast = useToast();
  const { data, isLoading, error } = useQuery({
    queryKey: keys.workload,
    queryFn: async () => (await unwrap(api.GET('/reports/users/me/workload'))) as Workload,
  });
  return (
    <div className="page">
      <div className="page-header">
        <h1>My work</h1>
        <button
          type="button"
          className="button button-small"
          onClick={() => downloadWithAuth('/reports/users/me/workload?format=csv', 'my-workload.csv').catch((e) => toast.show(messageOf(e), 'error'))}
        >
          Download workload CSV
        </button>
      </div>
      <p className="muted">Tasks assigned to you, by project.</p>
      {isLoading ? (
        <p className="muted">Loading…</p>
      ) : error ? (
        <p className="form-error" role="alert">
          {messageOf(error)}
        </p>
      ) : data ? (
        <div className="table-wrap card-panel">
          <table className="data-table">
            <thead>
              <tr>
                <th scope="col">Project</th>
                {STATUSES.map((s) => (
                  <th key={s} scope="col" className="num">
                    {STATUS_LABEL[s]}
                  </th>
                ))}
                <th scope="col" className="num">
                  Overdue
                </th>
              </tr>
            </thead>
            <tbody>
              {data.projects.length === 0 && (
                <tr>
                  <td colSpan={6} className="muted">
                    No tasks are assigned to you.
                  </td>
                </tr>
              )}
              {data.projects.map((p) => (
                <tr key={p.project_id}>
                  <th scope="row">
                    <Link to={`/projects/${p.project_id}`}>{p.name}</Link>
                  </th>
                  {STATUSES.map((s) => (
                    <td key={s} className="num">
                      {p.by_status[s]}
                    </td>
                  ))}
                  <td className={p.overdue > 0 ? 'num text-danger' : 'num'}>{p.overdue}</td>
                </tr>
              ))}
            </tbody>
            <tfoot>
              <tr>
                <th scope="row">Total</th>
                {STATUSES.map((s) => (
                  <td key={s} className="num">
                    {data.total.by_status[s]}
                  </td>
                ))}
                <td className={data.total.overdue > 0 ? 'num text-danger' : 'num'}>{data.total.overdue}</td>
              </tr>
            </tfoot>
          </table>
        </div>
      ) : null}
    </div>
  );
}
