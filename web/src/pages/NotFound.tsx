import { Link } from 'react-router';

export function NotFound({ what = 'page' }: { what?: string }) {
  return (
    <div className="empty-state">
      <h1>Not found</h1>
      <p>This {what} does not exist, or you do not have access to it.</p>
      <p>
        <Link to="/projects">Back to projects</Link>
      </p>
    </div>
  );
}
