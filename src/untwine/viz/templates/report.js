/* Sorts the rows of every table.sortable by the clicked column: numbers numerically (a cell's
   data-sort attribute if it has one), text alphabetically, empty cells last either way. */
(function(){
function key(row,i){var c=row.cells[i];if(!c)return[2,""];
 var v=c.getAttribute("data-sort");if(v===null)v=c.textContent.trim();
 if(v==="")return[2,""];var n=Number(v);return isNaN(n)?[1,v.toLowerCase()]:[0,n];}
function sortBy(table,i,th){
 var asc=th.getAttribute("aria-sort")!=="ascending";
 Array.prototype.forEach.call(th.parentNode.cells,function(c){c.removeAttribute("aria-sort");});
 th.setAttribute("aria-sort",asc?"ascending":"descending");
 var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
 rows.sort(function(a,b){var x=key(a,i),y=key(b,i);if(x[0]!==y[0])return x[0]-y[0];
  var c=x[1]<y[1]?-1:(x[1]>y[1]?1:0);return asc?c:-c;});
 rows.forEach(function(r){body.appendChild(r);});}
Array.prototype.forEach.call(document.querySelectorAll("table.sortable"),function(t){
 Array.prototype.forEach.call(t.tHead.rows[0].cells,function(th,i){
  th.title="click to sort";th.addEventListener("click",function(){sortBy(t,i,th);});});});
})();
