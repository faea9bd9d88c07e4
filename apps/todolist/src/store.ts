/** One todo item. */
export interface Todo {
  id: number;
  title: string;
  done: boolean;
  createdAt: string;
}

/** Why a todo request was refused: names the field and the reason. */
export class TodoInputError extends Error {
  readonly code = 'TODO_INVALID_INPUT';
  constructor(readonly field: string, reason: string) {
    super(`${field}: ${reason}`);
    this.name = 'TodoInputError';
  }
}

/** In-memory todo list (each replica keeps its own). */
export class TodoStore {
  private readonly items = new Map<number, Todo>();
  private nextId = 1;

  list(): Todo[] {
    return [...this.items.values()];
  }

  get(id: number): Todo | undefined {
    return this.items.get(id);
  }

  add(input: unknown): Todo {
    const title = readTitle(input, true);
    const todo: Todo = { id: this.nextId++, title: title!, done: false, createdAt: new Date().toISOString() };
    this.items.set(todo.id, todo);
    return todo;
  }

  update(id: number, input: unknown): Todo | undefined {
    const todo = this.items.get(id);
    if (!todo) return undefined;
    const title = readTitle(input, false);
    const done = (input as { done?: unknown }).done;
    if (done !== undefined && typeof done !== 'boolean') throw new TodoInputError('done', 'must be a boolean');
    const next = { ...todo, ...(title !== undefined ? { title } : {}), ...(done !== undefined ? { done } : {}) };
    this.items.set(id, next);
    return next;
  }

  remove(id: number): boolean {
    return this.items.delete(id);
  }
}

function readTitle(input: unknown, required: boolean): string | undefined {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new TodoInputError('body', 'must be a JSON object');
  }
  const title = (input as { title?: unknown }).title;
  if (title === undefined && !required) return undefined;
  if (typeof title !== 'string' || title.trim() === '') throw new TodoInputError('title', 'must be a non-empty string');
  if (title.length > 200) throw new TodoInputError('title', 'must be at most 200 characters');
  return title.trim();
}
