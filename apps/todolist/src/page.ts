/** The todo page: plain HTML and a little script over the JSON API. v2 shows a banner and other colours. */
export function renderPage(version: string, hostname: string): string {
  const v2 = version === 'v2';
  const accent = v2 ? '#7b2cbf' : '#1d6fa5';
  const banner = v2
    ? `<div class="banner" data-testid="banner">New in v2: a fresh look for your todos</div>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Todo list (${escapeHtml(version)})</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0; background: #f5f5f5; color: #222; }
  header { background: ${accent}; color: white; padding: 1rem 2rem; }
  .banner { background: #ffd60a; color: #222; padding: .75rem 2rem; font-weight: bold; }
  main { max-width: 40rem; margin: 2rem auto; background: white; padding: 1.5rem 2rem; border-radius: 8px; }
  ul { padding: 0; }
  li { padding: .3rem 0; list-style: none; }
  li span { margin: 0 .5rem; }
  li.done span { text-decoration: line-through; color: #888; }
  footer { text-align: center; color: #666; font-size: .85rem; }
  button { background: ${accent}; color: white; border: 0; padding: .4rem .8rem; border-radius: 4px; }
</style>
</head>
<body>
<header><h1>Todo list</h1></header>
${banner}
<main>
  <form id="add"><input id="title" name="title" placeholder="What needs doing?" required maxlength="200"> <button>Add</button></form>
  <ul id="todos"></ul>
</main>
<footer>version <b id="version">${escapeHtml(version)}</b> · served by ${escapeHtml(hostname)}</footer>
<script>
async function load() {
  const todos = await (await fetch('api/todos')).json();
  const ul = document.getElementById('todos');
  ul.replaceChildren(...todos.map((t) => {
    const li = document.createElement('li');
    li.className = t.done ? 'done' : '';
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = t.done;
    box.onchange = async () => { await fetch('api/todos/' + t.id, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ done: box.checked }) }); load(); };
    const span = document.createElement('span');
    span.textContent = t.title;
    const del = document.createElement('button');
    del.textContent = 'Delete';
    del.onclick = async () => { await fetch('api/todos/' + t.id, { method: 'DELETE' }); load(); };
    li.append(box, span, del);
    return li;
  }));
}
document.getElementById('add').onsubmit = async (e) => {
  e.preventDefault();
  const input = document.getElementById('title');
  await fetch('api/todos', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: input.value }) });
  input.value = '';
  load();
};
load();
</script>
</body>
</html>
`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
