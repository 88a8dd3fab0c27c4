import { forwardRef, type CSSProperties, type HTMLAttributes } from 'react';
import { useSortable } from '@dnd-kit/sortable';
import { CSS } from '@dnd-kit/utilities';
import { PRIORITY_LABEL, type Task } from '../api/types';
import { Avatar } from '../ui/Avatar';
import { isOverdue, shortDate } from '../ui/format';

export function cardLabel(task: Task, assignee: string | undefined): string {
  const parts = [task.title, `${PRIORITY_LABEL[task.priority]} priority`];
  if (task.labels.length) parts.push(`labels ${task.labels.join(', ')}`);
  if (assignee) parts.push(`assigned to ${assignee}`);
  if (task.due_date) parts.push(`due ${shortDate(task.due_date)}${isOverdue(task.due_date, task.status === 'done') ? ' (overdue)' : ''}`);
  return parts.join(', ');
}

interface CardBodyProps extends HTMLAttributes<HTMLLIElement> {
  task: Task;
  assignee?: string;
  dragging?: boolean;
  overlay?: boolean;
}

export const CardBody = forwardRef<HTMLLIElement, CardBodyProps>(function CardBody(
  { task, assignee, dragging, overlay, className, ...rest },
  ref,
) {
  const overdue = isOverdue(task.due_date, task.status === 'done');
  return (
    <li
      ref={ref}
      role="listitem"
      aria-label={cardLabel(task, assignee)}
      className={['card', dragging ? 'card-dragging' : '', overlay ? 'card-overlay' : '', className ?? ''].join(' ')}
      {...rest}
    >
      <div className="card-title">{task.title}</div>
      <div className="card-meta" aria-hidden="true">
        <span className={`chip chip-priority chip-${task.priority}`}>{PRIORITY_LABEL[task.priority]}</span>
        {task.labels.map((l) => (
          <span key={l} className="chip chip-label">
            {l}
          </span>
        ))}
      </div>
      {(task.due_date || assignee) && (
        <div className="card-footer" aria-hidden="true">
          {task.due_date ? (
            <span className={overdue ? 'due due-overdue' : 'due'}>
              <svg viewBox="0 0 16 16" width="13" height="13" aria-hidden="true">
                <rect x="2" y="3" width="12" height="11" rx="2" fill="none" stroke="currentColor" strokeWidth="1.4" />
                <path d="M2 6.5h12M5 1.8v2.4M11 1.8v2.4" stroke="currentColor" strokeWidth="1.4" />
              </svg>
              {shortDate(task.due_date)}
            </span>
          ) : (
            <span />
          )}
          {assignee && task.assignee_id && <Avatar name={assignee} id={task.assignee_id} size="sm" decorative />}
        </div>
      )}
    </li>
  );
});

interface SortableCardProps {
  task: Task;
  assignee?: string;
  disabled: boolean;
  onOpen: (task: Task) => void;
  describedBy?: string;
}

export function SortableCard({ task, assignee, disabled, onOpen }: SortableCardProps) {
  const { attributes, listeners, setNodeRef, transform, transition, isDragging } = useSortable({
    id: task.id,
    data: { status: task.status },
    disabled,
  });
  const style: CSSProperties = { transform: CSS.Translate.toString(transform), transition };
  // dnd-kit's attributes give role=button; the card stays a list item.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { role: _role, 'aria-roledescription': _rd, 'aria-pressed': _pressed, ...attrs } = attributes;
  const onKeyDown = listeners?.onKeyDown as ((e: React.KeyboardEvent) => void) | undefined;
  return (
    <CardBody
      ref={setNodeRef}
      task={task}
      assignee={assignee}
      dragging={isDragging}
      style={style}
      {...attrs}
      {...listeners}
      tabIndex={0}
      data-task-id={task.id}
      onClick={() => onOpen(task)}
      onKeyDown={(e) => {
        if (e.key === 'Enter' && !isDragging) {
          e.preventDefault();
          onOpen(task);
          return;
        }
        onKeyDown?.(e);
      }}
    />
  );
}
